"""The workflow registry in force: built-ins, the variants shipped in ``states/workflows``, and
variants from ``GRANTFLOW_WORKFLOWS_DIR``. Every variant is validated as it is loaded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from grantflow.config import Settings, get_settings
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
        registry = _CACHE[key] = registry_from_documents(read_documents(SHIPPED, s.workflows_dir))
    return registry


def clear_cache() -> None:
    _CACHE.clear()
