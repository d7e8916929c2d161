"""Helpers for the publication tests: a stand-in content guard and readers for generated PDFs."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pypdf import PdfReader

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

PUBLISHED_LATER = timedelta(days=31)
"""How long after the test clock's ``now`` (2 March 2026) the office publishes: a disclosure covers
a period that has ended, and every period these tests publish (January, March, the first quarter)
has ended by then."""


@dataclass
class FakeReport:
    ok: bool
    findings: list[dict[str, str]] = field(default_factory=list)


class FakeScanner:
    """Flags any of ``words``; remembers every text it was shown (so tests see what was checked)."""

    def __init__(self, *words: str) -> None:
        self.words = words
        self.seen: list[str] = []

    def __call__(self, text: str) -> FakeReport:
        self.seen.append(text)
        hits = [{"passage": w, "rule": "test"} for w in self.words if w in text]
        return FakeReport(not hits, hits)


def text_of(pdf: bytes | Path) -> str:
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def embedded_fonts(pdf: bytes) -> dict[str, int]:
    """Base font name → size in bytes of the embedded font program (0 when not embedded)."""
    out: dict[str, int] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        fonts = page["/Resources"].get("/Font") or {}
        for ref in fonts.values():
            font = ref.get_object()
            desc = font.get("/DescendantFonts")
            fd = (desc[0].get_object() if desc else font).get("/FontDescriptor")
            size = 0
            if fd is not None:
                fd = fd.get_object()
                stream = fd.get("/FontFile2") or fd.get("/FontFile3") or fd.get("/FontFile")
                size = len(stream.get_object().get_data()) if stream is not None else 0
            out[str(font["/BaseFont"])] = size
    return out


def first_page_png(pdf: Path, name: str) -> Path:
    """Page one as PNG (pdftoppm), kept under test-artifacts/ for a person to look at."""
    assert shutil.which("pdftoppm"), "pdftoppm (poppler-utils) is installed by scripts/system-deps.sh"
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = ARTIFACTS / name
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)], check=True
    )
    return prefix.with_suffix(".png")


def doc_info(pdf: bytes) -> dict[str, Any]:
    r = PdfReader(io.BytesIO(pdf))
    return {**{k: str(v) for k, v in (r.metadata or {}).items()}, "lang": str(r.trailer["/Root"].get("/Lang"))}
