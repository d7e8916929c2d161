"""Checking an uploaded file by what it contains, not by what it is called.

The kind comes from the file's leading bytes (the ``filetype`` library's signatures). Plain
text has no signature, so a file is text only if it decodes as UTF-8 or GB18030 (what Excel
writes for Chinese CSV) with no control characters; a CSV must also read as CSV. A known kind
must then be both allowed (by configuration and by the field) and the kind its name claims:
an ``.exe`` renamed ``.pdf`` and a PNG named ``.pdf`` are both refused, each with the reason.
Pure: bytes in, verdict out; storing is ``db.files``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

import filetype

from grantflow.states.errors import PayloadInvalid
from grantflow.states.text import Text, join

DEFAULT_TYPES: tuple[str, ...] = ("pdf", "docx", "doc", "xlsx", "xls", "pptx", "png", "jpg", "txt", "csv")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

# Names people give files → the kind their content must have.
_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "tiff": "tif", "text": "txt", "log": "txt"}

_MIME = {"txt": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8"}

KIND_LABELS: dict[str, Text] = {
    "pdf": Text("PDF 文档", "PDF document"),
    "docx": Text("Word 文档（docx）", "Word document (docx)"),
    "doc": Text("Word 97-2003 文档", "Word 97-2003 document"),
    "xlsx": Text("Excel 表格（xlsx）", "Excel workbook (xlsx)"),
    "xls": Text("Excel 97-2003 表格", "Excel 97-2003 workbook"),
    "pptx": Text("PowerPoint 演示文稿", "PowerPoint presentation"),
    "png": Text("PNG 图片", "PNG image"),
    "jpg": Text("JPEG 图片", "JPEG image"),
    "gif": Text("GIF 图片", "GIF image"),
    "txt": Text("纯文本", "plain text"),
    "csv": Text("CSV 表格", "CSV table"),
    "zip": Text("ZIP 压缩包", "ZIP archive"),
    "exe": Text("Windows 可执行程序", "Windows executable program"),
    "elf": Text("Linux 可执行程序", "Linux executable program"),
}


def kind_label(kind: str) -> Text:
    return KIND_LABELS.get(kind, Text(f"{kind.upper()} 文件", f"{kind.upper()} file"))


@dataclass(frozen=True)
class Upload:
    """An accepted file: its detected kind, the MIME type to serve it with, size and digest."""

    filename: str
    kind: str
    mime: str
    size: int
    sha256: str


class AttachmentRejected(PayloadInvalid):
    code = "attachment_rejected"

    def __init__(self, filename: str, reasons: list[Text]) -> None:
        body = join(reasons)
        super().__init__(
            Text(f"附件“{filename}”未被接受：{body.zh}", f"attachment '{filename}' was not accepted: {body.en}"),
            details={"filename": filename, "reasons": [r.as_dict() for r in reasons]},
        )
        self.filename = filename
        self.reasons = reasons


def _decode_text(content: bytes) -> str | None:
    if b"\x00" in content:
        return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text):
            return None
        return text
    return None


def _is_csv(text: str) -> bool:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return False
    return bool(rows)


def sniff(content: bytes, *, claimed: str | None = None) -> tuple[str, str] | None:
    """(kind, mime) from the content; ``claimed`` (the name's kind) only tells text from CSV."""
    found = filetype.guess(content)
    if found is not None:
        return _ALIASES.get(found.extension, found.extension), found.mime
    text = _decode_text(content)
    if text is None:
        return None
    if claimed == "csv" and _is_csv(text):
        return "csv", _MIME["csv"]
    return "txt", _MIME["txt"]


def name_kind(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    return _ALIASES.get(suffix, suffix)


MAX_NAME = 200
"""Longest file name kept (the column holds 255)."""


def safe_filename(filename: str) -> str:
    """The name to keep and offer for download: no folders, no control characters, not empty."""
    name = PurePath(filename.replace("\\", "/")).name
    # isprintable() is False for controls and format characters (RTL override, zero-width ...)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?').strip()
    if len(name) > MAX_NAME:
        # shorten the stem, never the extension: the kind a name claims is checked against the content
        suffix = PurePath(name).suffix
        keep = suffix if 1 < len(suffix) <= 16 else ""
        name = name[: MAX_NAME - len(keep)].rstrip() + keep
    return name or "file"


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB"


def check_upload(
    filename: str,
    content: bytes,
    *,
    allowed: Iterable[str] = DEFAULT_TYPES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Upload:
    """Accept the file or raise ``AttachmentRejected`` with every reason, in both languages."""
    name = safe_filename(filename)
    allowed_kinds = tuple(dict.fromkeys(_ALIASES.get(k.lower(), k.lower()) for k in allowed))
    listed = Text("、".join(k.upper() for k in allowed_kinds), ", ".join(k.upper() for k in allowed_kinds))
    size = len(content)
    if size == 0:
        raise AttachmentRejected(name, [Text("文件为空", "the file is empty")])
    if size > max_bytes:
        raise AttachmentRejected(
            name,
            [
                Text(
                    f"文件大小 {_mib(size)}，超过上限 {_mib(max_bytes)}",
                    f"it is {_mib(size)}; the limit is {_mib(max_bytes)}",
                )
            ],
        )
    claimed = name_kind(name)
    found = sniff(content, claimed=claimed)
    reasons: list[Text] = []
    if found is None:
        raise AttachmentRejected(
            name,
            [
                Text(
                    f"无法识别文件内容；允许的类型：{listed.zh}",
                    f"its content is not a recognised type; allowed: {listed.en}",
                )
            ],
        )
    kind, mime = found
    label = kind_label(kind)
    if kind not in allowed_kinds:
        reasons.append(
            Text(
                f"文件内容是{label.zh}，不在允许的类型内（{listed.zh}）",
                f"its content is a {label.en}, which is not allowed (allowed: {listed.en})",
            )
        )
    elif claimed != kind:
        said = f".{claimed}" if claimed else Text("无扩展名", "no extension").zh
        said_en = f".{claimed}" if claimed else "no extension"
        reasons.append(
            Text(
                f"文件名为 {said}，但内容是{label.zh}；请使用正确的文件或扩展名",
                f"its name says {said_en} but its content is a {label.en}; upload the right file or fix the name",
            )
        )
    if reasons:
        raise AttachmentRejected(name, reasons)
    return Upload(filename=name, kind=kind, mime=mime, size=size, sha256=hashlib.sha256(content).hexdigest())
