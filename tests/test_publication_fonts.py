"""The trimmed CJK fonts (reports/fonts.py): documents embed small font subsets when they are built,
every character still renders when one is outside them (full Noto CJK as the fallback), and
documents render with the full fonts when the trimmed ones are absent."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from grantflow.reports import documents, fonts, render
from grantflow.services.st_reports import StReport
from tests.publishing import embedded_fonts, text_of

BEIJING = timezone(timedelta(hours=8))
RARE = "龘䶮"  # outside GB 2312, inside Noto CJK SC
BODY = "项目围绕大尺寸复杂构件的高效高质量成形需求，开展了熔池在线监测研究（◇ 指标：3项）。"


def _report(title: str) -> StReport:
    return StReport(
        project_id=1,
        programme_id=7,
        programme="数字化制造技术创新及产业培育",
        project_code="ZX07-2026-00001",
        project_title="金属增材制造装备研制与示范应用",
        unit="京华智造科技有限公司",
        seq=1,
        report_number="91110108MA01ABCD2X-ZX07-2026-00001-01-GK",
        title=title,
        report_kind="最终报告",
        authors=[{"name": "王明", "unit": "京华智造科技有限公司"}],
        scope="public",
        scope_label="公开",
        report_date=date(2026, 2, 20),
        release_date=date(2026, 2, 20),
        deferral_reason="",
        keywords=["增材制造", "装备"],
        abstract=BODY,
        funding_channel="市科技计划重大专项",
        introduction=BODY,
        sections=[{"heading": "总体方案", "body": BODY}],
        conclusions=BODY,
        references="[1] GB/T 7713.3—2014 科技报告编写规则",
        appendix="",
    )


def _pdf(title: str) -> bytes:
    issued = datetime(2026, 4, 1, 9, tzinfo=BEIJING)
    return documents.st_report_pdf(_report(title), issued_at=issued, sheet_only=False).pdf


def test_the_trimmed_set_is_common_chinese_and_punctuation() -> None:
    chars = fonts.charset()
    for ch in "的国科研项目京华智造（）：；、。《》“”—…◇◆①℃ABC123":
        assert ord(ch) in chars, ch
    assert 6763 + 95 < len(chars) < 9000
    assert not any(ord(ch) in chars for ch in RARE)


def test_documents_use_the_trimmed_fonts_and_rare_characters_fall_back_to_full_noto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTFLOW_FONT_CACHE", str(tmp_path / "fonts"))
    # a small set keeps the test quick; the real set is built the same way (make install)
    # (every character of the report and its template, except the rare ones)
    template = "".join((render.TEMPLATES / name).read_text() for name in ("st_report.html", "_base.html"))
    template += (render.ASSETS / "print.css").read_text()  # "第 … 页"
    plain = repr(_report("大尺寸金属构件激光选区熔化成形装备研制最终报告")) + template + "年月日·　"
    chars = {ord(c) for c in plain if c not in RARE} | set(range(0x20, 0x7F))
    for face in fonts.FACES:
        source = fonts.source_of(face)
        if source is None:
            pytest.skip(f"{face.source} is not installed (scripts/system-deps.sh installs fonts-noto-cjk)")
        fonts.build_face(face, source, fonts.target_of(face, source), chars=chars)
    assert len(fonts.available()) == len(fonts.FACES)

    common = _pdf("大尺寸金属构件激光选区熔化成形装备研制最终报告")
    used = embedded_fonts(common)
    assert used and all(name.split("+")[-1].startswith("Grantflow") for name in used), used
    assert all("CJK" in name for name in used)  # what the publication tests look for
    assert max(used.values()) < 60_000, used  # the full Noto faces embed as ~750 KB each
    assert "熔池在线监测" in text_of(common).replace("\n", "")

    rare = _pdf(f"大尺寸金属构件{RARE}成形装备研制最终报告")
    text = text_of(rare).replace("\n", "")
    assert f"构件{RARE}成形" in text  # no missing glyph: the characters read back
    used = embedded_fonts(rare)
    assert any("Noto" in name and "CJK" in name for name in used), used  # drawn with the full font


def test_without_trimmed_fonts_documents_use_the_full_fonts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANTFLOW_FONT_CACHE", str(tmp_path / "empty"))
    assert fonts.available() == ()
    pdf = _pdf(f"大尺寸金属构件{RARE}成形装备研制最终报告")
    used = embedded_fonts(pdf)
    assert used and all("Grantflow" not in name for name in used), used
    assert any("CJK" in name for name in used) and all(size > 0 for size in used.values())
    assert f"构件{RARE}成形" in text_of(pdf).replace("\n", "")


def test_a_font_file_is_served_only_to_the_font_rules(tmp_path: Path) -> None:
    """The trimmed fonts live outside the assets; the document's own fetcher still refuses them."""
    font = tmp_path / "grantflow-sans-regular-x.otf"
    font.write_bytes(b"OTTO")
    assert render.AssetFetcher()._local_path(font.as_uri()) is None
    assert render.AssetFetcher(files=(font,))._local_path(font.as_uri()) == font.resolve()
    assert render.AssetFetcher(files=(font,))._local_path((tmp_path / "other.otf").as_uri()) is None


def test_the_build_script_runs_without_fonts_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m grantflow.reports.fonts`` (make install) never fails the install."""
    import subprocess

    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?>\n<fontconfig><cachedir>{tmp_path / 'fc'}</cachedir></fontconfig>\n")
    env = {"PATH": "/usr/bin:/bin", "FONTCONFIG_FILE": str(conf), "GRANTFLOW_FONT_CACHE": str(tmp_path / "c")}
    done = subprocess.run(
        [sys.executable, "-m", "grantflow.reports.fonts"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "not installed" in done.stdout
    assert not (tmp_path / "c").exists()
