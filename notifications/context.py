"""What a template may say about a message: names and labels read once per message, per language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from grantflow.db.models import Adjustment, Call, Programme, Project, User, table
from grantflow.db.workflows import get_registry
from grantflow.states.adjustments import kind_label
from grantflow.states.deadlines import DUE_KIND_LABELS, form_label, stage_label
from grantflow.states.lifecycle import TRIGGER_LABELS
from grantflow.states.text import Text

_p = table(Project)
_c = table(Call)
_g = table(Programme)
_u = table(User)
_a = table(Adjustment)

SUBJECT_LABELS = {
    "project": Text("项目", "project"),
    "call": Text("申报指南", "call"),
    "programme": Text("重大专项", "programme"),
    "adjustment": Text("动态调整申请", "adjustment request"),
}


def subject_facts(conn: Connection, subject: str, subject_id: int) -> dict[str, Any]:
    """Names of the subject in both languages and its workflow (for state labels)."""
    if subject == "project":
        row = conn.execute(select(_p.c.code, _p.c.title, _p.c.workflow).where(_p.c.id == subject_id)).one_or_none()
        if row is None:
            return {"name": Text(f"#{subject_id}", f"#{subject_id}"), "workflow": "standard"}
        name = f"{row.code} {row.title}"
        return {"name": Text(name, name), "workflow": row.workflow}
    if subject == "adjustment":
        found = conn.execute(
            select(_a.c.kind, _a.c.workflow, _p.c.code, _p.c.title)
            .select_from(_a.join(_p, _a.c.project_id == _p.c.id))
            .where(_a.c.id == subject_id)
        ).one_or_none()
        if found is None:
            return {"name": Text(f"#{subject_id}", f"#{subject_id}"), "workflow": "adjustment"}
        what = kind_label(found.kind)
        return {
            "name": Text(f"{found.code} {found.title}：{what.zh}", f"{found.code} {found.title}: {what.en}"),
            "workflow": found.workflow,
        }
    if subject == "call":
        row = conn.execute(select(_c.c.title, _c.c.title_en, _c.c.workflow).where(_c.c.id == subject_id)).one()
        return {"name": Text(row.title, row.title_en or row.title), "workflow": row.workflow}
    row = conn.execute(select(_g.c.name, _g.c.name_en, _g.c.workflow).where(_g.c.id == subject_id)).one()
    return {"name": Text(row.name, row.name_en), "workflow": row.workflow}


def item_label(payload: Mapping[str, Any]) -> Text:
    """'2027 年度后评估报告' / 'post-evaluation report for 2027', 'milestone ...', 'expert review'."""
    kind = payload.get("item_kind", "report")
    if payload.get("label"):
        base = Text(**payload["label"])
    elif kind == "report" and payload.get("form_key"):
        base = form_label(str(payload["form_key"]))
    elif payload.get("stage"):
        base = Text(
            stage_label(str(payload["stage"])).zh + DUE_KIND_LABELS[kind].zh,
            f"{DUE_KIND_LABELS[kind].en} ({stage_label(str(payload['stage'])).en})",
        )
    else:
        base = DUE_KIND_LABELS.get(kind, Text(kind, kind))
    period = payload.get("period")
    if period and payload.get("form_key") == "post_evaluation_report":
        return Text(f"{period}年度{base.zh}", f"{base.en} for {period}")
    if period:
        return Text(f"第{period}期{base.zh}", f"{base.en} no. {period}")
    return base


def local(moment: str | datetime, tz: str) -> str:
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def build(
    conn: Connection, *, kind: str, subject: str, subject_id: int, payload: Mapping[str, Any], tz: str
) -> dict[str, dict[str, Any]]:
    """The template context for each language (``{"zh": {...}, "en": {...}}``)."""
    facts = subject_facts(conn, subject, subject_id)
    out: dict[str, dict[str, Any]] = {}
    for lang in ("zh", "en"):
        ctx: dict[str, Any] = {
            "subject_label": SUBJECT_LABELS[subject].get(lang),
            "subject_name": facts["name"].get(lang),
            "tz": tz,
        }
        if kind.startswith(("project.", "call.", "programme.", "adjustment.")):
            trigger = kind.partition(".")[2]
            zh, en = TRIGGER_LABELS.get(trigger, (trigger, trigger.replace("_", " ")))
            registry = get_registry()
            wf = registry.get(facts["workflow"]) if facts["workflow"] in registry else None
            ctx |= {
                "trigger_label": Text(zh, en).get(lang),
                "from_label": wf.state_label(payload["from"]).get(lang) if wf else payload.get("from"),
                "to_label": wf.state_label(payload["to"]).get(lang) if wf else payload.get("to"),
                "actor": payload.get("actor") if payload.get("actor") != "system" else None,
                "reason": payload.get("reason"),
            }
        elif kind == "st_report.returned":
            ctx |= {
                "report_title": payload.get("title") or "",
                "seq": payload.get("seq"),
                "problems": [Text(**p).get(lang) for p in payload.get("problems") or []],
            }
        else:
            ctx |= {
                "item_label": item_label(payload).get(lang),
                "due_local": local(payload["due_at"], tz),
                "days": payload.get("days"),
                "days_overdue": payload.get("days_overdue"),
                "call_title": payload.get("call_title", {}).get(lang) if payload.get("call_title") else None,
                "assignee": _assignee(conn, payload.get("assignee_id")),
            }
        out[lang] = ctx
    return out


def _assignee(conn: Connection, user_id: int | None) -> str | None:
    if not user_id:
        return None
    return conn.execute(select(_u.c.name).where(_u.c.id == user_id)).scalar_one_or_none()
