"""Attachments: checked by content, limited by configuration, stored by SHA-256, shown only to viewers."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from grantflow.config import reset_settings
from grantflow.db.models import Attachment
from grantflow.forms import AttachmentRejected, check_upload
from grantflow.services.files import open_attachment, store_attachment
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import NotFound
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project
from tests.web import WebClient

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"This program cannot be run in DOS mode"


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _reasons(exc: pytest.ExceptionInfo[AttachmentRejected]) -> tuple[str, str]:
    return exc.value.message.zh, exc.value.message.en


@pytest.mark.parametrize(
    ("name", "content", "zh", "en"),
    [
        ("budget.pdf", EXE, "Windows 可执行程序", "Windows executable program"),
        ("photo.pdf", PNG, "文件名为 .pdf，但内容是PNG 图片", "its name says .pdf but its content is a PNG image"),
        ("notes.pdf", "这是一段文字".encode(), "内容是纯文本", "content is a plain text"),
        ("report.docx", b"\x00\x01\x02\xff\xfe" * 20, "无法识别文件内容", "not a recognised type"),
        ("empty.pdf", b"", "文件为空", "the file is empty"),
        ("archive.docx", b"PK\x03\x04" + b"\x00" * 60, "ZIP 压缩包", "ZIP archive"),
    ],
    ids=["exe-renamed-pdf", "png-named-pdf", "text-named-pdf", "garbage", "empty", "zip-named-docx"],
)
def test_disguised_files_are_refused_by_content_in_both_languages(name: str, content: bytes, zh: str, en: str) -> None:
    with pytest.raises(AttachmentRejected) as exc:
        check_upload(name, content)
    got_zh, got_en = _reasons(exc)
    assert zh in got_zh and name in got_zh
    assert en in got_en and name in got_en


def test_oversized_file_is_refused_with_both_sizes() -> None:
    with pytest.raises(AttachmentRejected) as exc:
        check_upload("big.pdf", PDF + b"0" * 3 * 1024 * 1024, max_bytes=2 * 1024 * 1024)
    zh, en = _reasons(exc)
    assert "超过上限 2.0 MiB" in zh and "3.0 MiB" in zh
    assert "the limit is 2.0 MiB" in en


def test_real_files_pass_with_their_digest() -> None:
    for name, content, kind in [("a.pdf", PDF, "pdf"), ("b.PNG", PNG, "png"), ("c.docx", _docx(), "docx")]:
        up = check_upload(name, content)
        assert up.kind == kind and up.sha256 == hashlib.sha256(content).hexdigest() and up.size == len(content)


def test_plain_text_and_csv_need_care_because_they_have_no_signature() -> None:
    out = io.StringIO()
    csv.writer(out).writerows([["经费来源", "金额"], ["市级财政", "100.00"]])
    assert check_upload("budget.csv", out.getvalue().encode("utf-8-sig")).kind == "csv"
    assert check_upload("budget.csv", out.getvalue().encode("gb18030")).kind == "csv"  # what Excel writes
    assert check_upload("readme.txt", "说明\n第二行\n".encode()).kind == "txt"
    with pytest.raises(AttachmentRejected):  # control bytes: not text whatever the name says
        check_upload("readme.txt", b"abc\x00\x01\x02def")
    with pytest.raises(AttachmentRejected):
        check_upload("data.csv", PNG)


def test_configured_types_narrow_what_is_accepted(
    engine: Engine, people: People, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = make_project(engine, people, now)
    monkeypatch.setenv("GRANTFLOW_ATTACHMENT_TYPES", "pdf")
    monkeypatch.setenv("GRANTFLOW_ATTACHMENT_MAX_BYTES", "1000")
    reset_settings()
    with engine.begin() as conn:
        with pytest.raises(AttachmentRejected) as exc:
            store_attachment(
                conn,
                project_id=pid,
                form_key="proposal",
                field="attachments",
                filename="p.png",
                content=PNG,
                actor=people["applicant"],
            )
        assert "PNG" in exc.value.message.en and "allowed: PDF" in exc.value.message.en
        with pytest.raises(AttachmentRejected) as big:
            store_attachment(
                conn,
                project_id=pid,
                form_key="proposal",
                field="attachments",
                filename="p.pdf",
                content=PDF + b" " * 2000,
                actor=people["applicant"],
            )
        assert "limit is 1.0 KiB" in big.value.message.en


def test_stored_in_the_file_store_by_sha256_and_served_only_to_viewers(
    engine: Engine, people: People, now: datetime, home: Path
) -> None:
    pid = make_project(engine, people, now)
    with engine.begin() as conn:
        stored = store_attachment(
            conn,
            project_id=pid,
            form_key="proposal",
            field="attachments",
            filename="../../可行性报告.pdf",
            content=PDF,
            actor=people["applicant"],
            now=now,
        )
    digest = hashlib.sha256(PDF).hexdigest()
    assert stored.ref.sha256 == digest and stored.ref.filename == "可行性报告.pdf"
    path = home / "files" / digest[:2] / digest
    assert path.read_bytes() == PDF
    with engine.connect() as conn:
        row = conn.execute(select(Attachment)).one()
        assert row.sha256 == digest and row.kind == "pdf" and row.storage_key == f"{digest[:2]}/{digest}"
        for who in ("applicant", "office", "organiser"):
            assert open_attachment(conn, attachment_id=row.id, actor=people[who])[1] == PDF
        for who in ("applicant2", "other_organiser", "expert1"):
            with pytest.raises(NotFound):
                open_attachment(conn, attachment_id=row.id, actor=people[who])
    path.write_bytes(PDF + b"tampered")
    with engine.connect() as conn, pytest.raises(Exception, match="SHA-256"):
        open_attachment(conn, attachment_id=row.id, actor=people["office"])


def _login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def test_download_through_the_app_is_refused_to_someone_who_may_not_see_the_project(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    with engine.begin() as conn:
        aid = store_attachment(
            conn,
            project_id=pid,
            form_key="proposal",
            field="attachments",
            filename="报告.pdf",
            content=PDF,
            actor=people["applicant"],
        ).ref.id
    outsider = WebClient(create_app())
    _login(outsider, "pi@yanyuan.example.edu")
    r = outsider.get(f"/attachments/{aid}")
    assert r.status_code == 404 and PDF not in r.content
    anonymous = WebClient(create_app())
    assert anonymous.get(f"/attachments/{aid}", follow_redirects=False).status_code == 303  # to sign-in
    owner = WebClient(create_app())
    _login(owner, "pi@jinghua.example.com")
    r = owner.get(f"/attachments/{aid}")
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert (
        r.headers["content-disposition"].startswith("attachment;")
        and "%E6%8A%A5%E5%91%8A.pdf" in r.headers["content-disposition"]
    )
    assert r.headers["x-content-type-options"] == "nosniff"
