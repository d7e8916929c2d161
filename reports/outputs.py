"""The publication directory: PDFs in place, and the manifest, index page and Atom feed built
from the database. Every file appears by ``os.replace`` of a complete temporary file in the same
directory, so a reader sees the old file or the new one, never a part of either."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from grantflow.reports.render import ASSETS, render_html
from grantflow.services import publications
from grantflow.states.disclosure import KIND_LABELS
from grantflow.states.text import Text

STAGING = ".staging"
MANIFEST = "manifest.json"
INDEX = "index.html"
FEED = "feed.atom"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file (temp + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def staging_dir(root: Path, token: str) -> Path:
    return root / STAGING / token


def stage(root: Path, token: str, name: str, data: bytes) -> Path:
    """Keep a rendered file out of sight until it is recorded."""
    path = staging_dir(root, token) / name
    write_atomic(path, data)
    return path


def move_into_place(root: Path, token: str, name: str, sha256: str) -> None:
    """Move a staged file to its public name (atomic, same file system). A rerun after a crash
    finds the file already in place and checks it is the recorded one."""
    staged = staging_dir(root, token) / name
    final = root / name
    final.parent.mkdir(parents=True, exist_ok=True)
    if staged.exists():
        os.replace(staged, final)
        _fsync_dir(final.parent)
    if not final.exists() or sha256_of(final) != sha256:
        raise FileNotFoundError(f"{name}: the recorded file (sha256 {sha256[:12]}…) is neither staged nor in place")


def clean_staging(root: Path, *, keep: set[str] | None = None) -> int:
    """Remove staged files of runs that are over (their claims were taken over or finished)."""
    base = root / STAGING
    if not base.is_dir():
        return 0
    removed = 0
    for d in base.iterdir():
        if keep and d.name in keep:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def manifest(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = publications.published(conn)
        items = []
        for r in rows:
            docs = publications.documents_of(conn, r.id)
            items.append(
                {
                    "id": r.id,
                    "kind": r.kind,
                    "kind_label": KIND_LABELS.get(r.kind, Text(r.kind, r.kind)).as_dict(),
                    "programme": {"code": r.programme_code, "zh": r.programme_name, "en": r.programme_name_en},
                    "period": r.period,
                    "title": r.title,
                    "issued_at": _iso(r.issued_at),
                    "published_at": _iso(r.published_at),
                    "documents": [
                        {"name": d.name, "title": d.title, "sha256": d.sha256, "size": d.size, "pages": d.pages}
                        for d in docs
                    ],
                    "audit": {
                        "event_id": r.audit_event_id,
                        "head_event_id": r.audit_head_id,
                        "head_hash": r.audit_head_hash,
                        "anchored_at": _iso(r.audit_anchored_at),
                    },
                    "guard": {"overridden": r.override_reason is not None, "reason": r.override_reason},
                }
            )
    return {"format": "grantflow-publications/1", "publications": items}


@dataclass(frozen=True)
class FeedLinks:
    """Where a feed's links point: the feed itself, the list of publications, and the prefix of a
    published file's recorded name."""

    self_url: str
    index_url: str
    files: str

    @classmethod
    def of_directory(cls, base_url: str = "") -> FeedLinks:
        """The publication directory's own feed: under its public URL when one is configured, else
        relative to the feed, so the directory works wherever it is served."""
        base = base_url.rstrip("/")
        prefix = base + "/" if base else ""
        return cls(prefix + FEED, prefix + INDEX, prefix)


WEB_FEED_LINKS = FeedLinks("/publications/feed.atom", "/publications", "/publications/files/")
"""The same feed as served by the web page, whose files live under ``/publications/files/``."""


def feed_id(base_url: str = "") -> str:
    """One id for the feed however it is reached (the directory's file or the web page)."""
    return (base_url.rstrip("/") or "urn:grantflow:publications") + "/" + FEED


def feed(engine: Engine, *, now: datetime, links: FeedLinks, base_url: str = "") -> str:
    """The Atom feed of what is recorded as published (empty, but valid, before the first)."""
    context = {"items": manifest(engine)["publications"], "generated_at": now, "links": links, "id": feed_id(base_url)}
    return render_html("feed.xml", context)


def write_outputs(engine: Engine, root: Path, *, now: datetime, base_url: str = "") -> dict[str, Any]:
    """Rebuild manifest.json, index.html and feed.atom from what is recorded as published."""
    data = manifest(engine)
    data["generated_at"] = _iso(now)
    write_atomic(root / MANIFEST, json.dumps(data, ensure_ascii=False, indent=2).encode())
    context = {"items": data["publications"], "generated_at": now}
    write_atomic(root / INDEX, render_html("index.html", context).encode())
    links = FeedLinks.of_directory(base_url)
    write_atomic(root / FEED, render_html("feed.xml", {**context, "links": links, "id": feed_id(base_url)}).encode())
    css = (ASSETS / "index.css").read_bytes()
    if not (root / "index.css").exists() or (root / "index.css").read_bytes() != css:
        write_atomic(root / "index.css", css)
    return data


def published_path(root: Path, name: str) -> Path | None:
    """A published file by its recorded name, never anything else under the directory."""
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root.resolve()) or STAGING in candidate.relative_to(root.resolve()).parts:
        return None
    return candidate if candidate.is_file() else None
