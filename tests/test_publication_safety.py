"""User text can never become markup, styles or a fetch: titles render as plain text, and the URL
fetcher serves only the report assets even to markup that did get into a document."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from grantflow.config import get_settings
from grantflow.reports.publish import publish_disclosure
from grantflow.reports.render import ASSETS, AssetFetcher, html_to_pdf
from tests.conftest import People
from tests.factories import make_call, make_project
from tests.publishing import PUBLISHED_LATER, FakeScanner, text_of


class Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - shared by the server's handler instances

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _images(reader: PdfReader) -> int:
    """Image XObjects anywhere in the pages' resources (charts are vector form XObjects, not images)."""
    seen: set[int] = set()

    def walk(resources: object) -> int:
        count = 0
        for ref in ((resources or {}).get("/XObject") or {}).values():  # type: ignore[attr-defined]
            if id(ref.get_object()) in seen:
                continue
            seen.add(id(ref.get_object()))
            obj = ref.get_object()
            count += 1 if obj.get("/Subtype") == "/Image" else walk(obj.get("/Resources"))
        return count

    return sum(walk(page.get("/Resources")) for page in reader.pages)


def _squash(text: str) -> str:
    return "".join(text.split())


def test_titles_with_markup_render_as_text_and_fetch_nothing(
    engine: Engine, people: People, now: datetime, server: str
) -> None:
    titles = [
        f'<img src="{server}/track.png">遥感监测项目',
        '<img src="file:///etc/passwd"><a rel="attachment" href="file:///etc/hostname">附件</a>',
        f'<style>*{{display:none}}</style><link rel="stylesheet" href="{server}/evil.css">标题',
        '</td></tr></table><h1 style="color:red">伪造公告</h1>',
    ]
    call = make_call(engine, people, now)
    for t in titles:
        make_project(engine, people, now, call_id=call, title=t, state="commissioning")
    later = now + PUBLISHED_LATER
    out = publish_disclosure(
        engine, get_settings(), kind="establishment", programme=7, period="2026-03", now=later, scanner=FakeScanner()
    )
    assert out.status == "published"
    pdf = (get_settings().publications_dir / out.documents[0].name).read_bytes()
    text = _squash(text_of(pdf))
    for t in titles:
        assert _squash(t) in text, t  # every character is there, as text
    assert Recorder.hits == []
    reader = PdfReader(io.BytesIO(pdf))
    assert "/EmbeddedFiles" not in (reader.trailer["/Root"].get("/Names") or {})
    assert _images(reader) == 0, "no image was loaded"


def test_the_fetcher_serves_only_the_report_assets(server: str) -> None:
    fetcher = AssetFetcher()
    html = (
        '<html lang="zh-CN"><head><link rel="stylesheet" href="print.css">'
        f'<link rel="stylesheet" href="{server}/evil.css"></head><body>'
        '<img src="file:///etc/passwd"><img src="../render.py"><img src="data:image/png;base64,iVBORw0KGgo=">'
        f'<img src="{server}/pixel.png"><a rel="attachment" href="file:///etc/hostname">x</a><p>正文</p></body></html>'
    )
    r = html_to_pdf(html, fetcher=fetcher)
    assert fetcher.served == [(ASSETS / "print.css").as_uri()]
    refused = " ".join(fetcher.refused)
    for what in ("evil.css", "/etc/passwd", "render.py", "data:image/png", "pixel.png"):
        assert what in refused, what
    assert Recorder.hits == []
    reader = PdfReader(io.BytesIO(r.pdf))
    assert "/EmbeddedFiles" not in (reader.trailer["/Root"].get("/Names") or {})
    assert "正文" in reader.pages[0].extract_text()
