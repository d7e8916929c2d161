"""The workflow registry in force: built-ins, the variants shipped in ``states/workflows``, and
variants from ``GRANTFLOW_WORKFLOWS_DIR``. Every variant is validated as it is loaded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from grantflow.config import Settings, get_settings
from grantflow.db.effects import RECORDED_EFFECT_HANDLERS
from grantflow.states.effects import EFFECTS
from grantflow.states.errors import WorkflowInvalid
from grantflow.states.workflow import Registry, registry_from_documents

SHIPPED = Path(__file__).resolve().parent.parent / "states" / "workflows"

_CACHE: dict[tuple[str, ...], Registry] = {}


def read_documents(*dirs: Path | None) -> list[dict[str, Any]]:
    docs = []
    for d in dirs:
        if d is None:
            continue
        for path in sorted(Path(d).expanduser().glob("*.toml")):
            try:
                docs.append(tomllib.loads(path.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise WorkflowInvalid(path.stem, [f"{path}: {exc}"]) from exc
    return docs


def get_registry(settings: Settings | None = None) -> Registry:
    s = settings or get_settings()
    key = (str(SHIPPED), str(s.workflows_dir or ""))
    registry = _CACHE.get(key)
    if registry is None:
        registry = registry_from_documents(read_documents(SHIPPED, s.workflows_dir))
        check_effect_handlers(registry)
        _CACHE[key] = registry
    return registry


def unhandled_effects(registry: Registry) -> dict[str, list[str]]:
    """Workflow name → effects its rows name that nothing carries out.

    ``states`` knows effect names (so a table naming an unknown one is refused there); an
    effect that writes rows must also have a handler here, or firing its row would record
    the transition and silently skip the effect.
    """
    found: dict[str, list[str]] = {}
    for wf in registry:
        missing = {e for t in wf.transitions for e in t.effects} - set(EFFECTS) - set(RECORDED_EFFECT_HANDLERS)
        if missing:
            found[wf.name] = sorted(missing)
    return found


def check_effect_handlers(registry: Registry) -> None:
    """Refuse to load workflows that name an effect without a handler, naming each one."""
    for name, effects in unhandled_effects(registry).items():
        raise WorkflowInvalid(name, [f"effect '{e}' has no handler in grantflow.db.effects" for e in effects])


def clear_cache() -> None:
    _CACHE.clear()
