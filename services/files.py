"""The file store: attachment bytes live in files under ``GRANTFLOW_HOME/files``, named by SHA-256.

Content-addressed, so the same file uploaded twice is stored once, a stored file is never
overwritten, and reading checks the bytes still match the digest recorded at upload. The
database holds only the metadata row (``db.form_models.Attachment``). Every read goes through
``open_attachment``, which serves nobody who may not see the project.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from grantflow import clock
from grantflow.config import Settings, get_settings
from grantflow.db import audit
from grantflow.db.models import Attachment, table
from grantflow.forms import FORMS, Attachments, FormRegistry
from grantflow.forms.fields import AttachmentRef
from grantflow.forms.files import Upload, check_upload
from grantflow.services.queries import editable_facts, project_for
from grantflow.states.errors import GrantflowError, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

_a = table(Attachment)
_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")

ATTACHMENT_NOT_FOUND = Text("附件不存在或您无权查看", "attachment not found, or you may not see it")


class StoredFileDamaged(GrantflowError):
    """The bytes on disk no longer match the SHA-256 recorded at upload."""

    code = "file_damaged"


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def key_for(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    def path(self, key: str) -> Path:
        if not _KEY.match(key):  # a key is ours, never a path a caller made up
            raise ValueError(f"not a file-store key: {key!r}")
        return self.root / key

    def put(self, content: bytes, sha256: str) -> str:
        key = self.key_for(sha256)
        target = self.path(key)
        if target.exists():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        # write then rename: a reader never sees half a file, two writers of the same bytes agree
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def read(self, key: str, *, sha256: str) -> bytes:
        content = self.path(key).read_bytes()
        if hashlib.sha256(content).hexdigest() != sha256:
            raise StoredFileDamaged(
                Text("存储的附件已损坏（SHA-256 不符）", "the stored attachment is damaged (SHA-256 mismatch)"),
                details={"storage_key": key},
            )
        return content


def file_store(settings: Settings | None = None) -> FileStore:
    return FileStore((settings or get_settings()).files_dir)


def allowed_kinds(field: Attachments, settings: Settings) -> tuple[str, ...]:
    """What this field takes, narrowed by configuration."""
    configured = {k.lower() for k in settings.attachment_types}
    return tuple(k for k in field.accept if k in configured)


@dataclass(frozen=True)
class StoredAttachment:
    ref: AttachmentRef
    upload: Upload


def store_attachment(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    field: str,
    filename: str,
    content: bytes,
    actor: Actor,
    now: datetime | None = None,
    settings: Settings | None = None,
    registry: FormRegistry = FORMS,
) -> StoredAttachment:
    """Check the file by content and limits, store it, record its row and an audit event.

    Raises ``forms.files.AttachmentRejected`` (every reason, both languages) when refused.
    The caller owns the transaction; a file stored for a transaction that rolls back is left
    in the store unreferenced (harmless: content-addressed, never served without a row).
    """
    s = settings or get_settings()
    moment = now or clock.now()
    form = registry.get(form_key)
    # NotFound when the project is not theirs to see; FormLocked when its state locks the form
    editable_facts(conn, actor, project_id, form_key)
    target = form.field(field) if form.has(field) else None
    if not isinstance(target, Attachments):
        raise PayloadInvalid(
            Text(
                f"表单“{form.title.zh}”没有附件栏“{field}”", f"form '{form.title.en}' has no attachment field '{field}'"
            )
        )
    upload = check_upload(filename, content, allowed=allowed_kinds(target, s), max_bytes=s.attachment_max_bytes)
    key = file_store(s).put(content, upload.sha256)
    aid = int(
        conn.execute(
            insert(_a).returning(_a.c.id),
            {
                "project_id": project_id,
                "form_key": form_key,
                "field": field,
                "filename": upload.filename,
                "kind": upload.kind,
                "content_type": upload.mime,
                "size": upload.size,
                "sha256": upload.sha256,
                "storage_key": key,
                "uploaded_by": actor.user_id,
                "uploaded_at": moment,
            },
        ).scalar_one()
    )
    audit.note(
        conn,
        subject_id=project_id,
        actor=actor,
        action=f"attach:{form_key}",
        payload={"attachment": aid, "field": field, "filename": upload.filename, "sha256": upload.sha256},
        now=moment,
    )
    ref = AttachmentRef(id=aid, filename=upload.filename, size=upload.size, sha256=upload.sha256, kind=upload.kind)
    return StoredAttachment(ref=ref, upload=upload)


def open_attachment(
    conn: Connection, *, attachment_id: int, actor: Actor, settings: Settings | None = None
) -> tuple[Any, bytes]:
    """The attachment's row and bytes, for someone who may see its project; else NotFound.

    A person who may not see the project is told the same as for a missing file, so ids
    cannot be probed.
    """
    row = conn.execute(select(_a).where(_a.c.id == attachment_id)).one_or_none()
    if row is None:
        raise NotFound(ATTACHMENT_NOT_FOUND)
    try:
        project_for(conn, actor, row.project_id)
    except NotFound:
        raise NotFound(ATTACHMENT_NOT_FOUND) from None
    return row, file_store(settings).read(row.storage_key, sha256=row.sha256)


def attachment_refs(
    conn: Connection, *, project_id: int, url: Callable[[int], str] | None = None
) -> dict[int, AttachmentRef]:
    """Every attachment of the project, for validating ids and showing names and links."""
    rows = conn.execute(select(_a).where(_a.c.project_id == project_id)).all()
    return {
        r.id: AttachmentRef(
            id=r.id,
            filename=r.filename,
            size=r.size,
            sha256=r.sha256,
            kind=r.kind,
            url=url(r.id) if url else None,
        )
        for r in rows
    }
