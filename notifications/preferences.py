"""Per user and kind of message: e-mail immediately, in a daily digest, or in the app only."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from grantflow.db.models import NotificationPreference, table
from grantflow.notifications.catalogue import DEFAULT_MODE, MODES, preference_key
from grantflow.services.deadlines import insert_ignoring_duplicates

_pref = table(NotificationPreference)


def modes_for(conn: Connection, user_ids: list[int]) -> dict[int, dict[str, str]]:
    """Every stored choice of these users: ``{user_id: {kind or "*": mode}}``."""
    if not user_ids:
        return {}
    found: dict[int, dict[str, str]] = {}
    for row in conn.execute(select(_pref).where(_pref.c.user_id.in_(user_ids))):
        found.setdefault(row.user_id, {})[row.kind] = row.mode
    return found


def mode_of(choices: dict[str, str], kind: str) -> str:
    """The kind's own choice, else the user's choice for everything ("*"), else e-mail immediately."""
    return choices.get(preference_key(kind)) or choices.get("*") or DEFAULT_MODE


def set_mode(conn: Connection, *, user_id: int, kind: str, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    key = kind if kind == "*" else preference_key(kind)
    conn.execute(delete(_pref).where(_pref.c.user_id == user_id, _pref.c.kind == key))
    insert_ignoring_duplicates(conn, _pref, [{"user_id": user_id, "kind": key, "mode": mode}])
