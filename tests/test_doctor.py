"""`grantflow doctor`: all well on a fresh installation (e-mail and Prefect only noted as not
configured), and each real fault named with its fix: an SMTP port nobody listens on, a stopped
Prefect server, a Prefect server without grantflow's deployments, fonts gone from fontconfig's
path, a readable key file, a missing database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.config import get_settings, reset_settings
from tests.test_notifications_smtp import start_smtp

runner = CliRunner()


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fresh(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home set up by `grantflow init`, with neither SMTP nor Prefect configured."""
    for var in ("PREFECT_API_URL", "GRANTFLOW_SMTP_HOST", "GRANTFLOW_SMTP_PORT", "FONTCONFIG_FILE", "FONTCONFIG_PATH"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    return home


def _doctor(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["doctor", "--min-free-mb", "1", *args])
    return result.exit_code, result.output


def _line(output: str, check: str) -> list[str]:
    """The lines of one check (each is: status, the check's name, a colon, what was found)."""
    return [
        line for line in output.splitlines() if line.split(None, 1)[1:2] and line.split(None, 1)[1].startswith(check)
    ]


def test_all_ok_on_a_fresh_home(fresh: Path) -> None:
    code, out = _doctor("--lang", "en")
    assert code == 0, out
    checks = ("configuration", "database", "key files", "CJK font", "trimmed CJK fonts", "disk space", "audit chain")
    for check in checks:
        lines = _line(out, check)
        assert lines and all(line.startswith("OK") for line in lines), (check, out)
    assert "at head" in out and "Chinese renders and reads back" in out
    (smtp,) = _line(out, "e-mail (SMTP)")
    assert smtp.startswith("WARN") and "not configured" in smtp
    (prefect,) = _line(out, "Prefect scheduler")
    assert prefect.startswith("WARN") and "PREFECT_API_URL not set" in prefect
    assert "0 problem(s), 2 warning(s)" in out
    code, zh = _doctor("--lang", "zh")
    assert code == 0 and "未配置 SMTP" in zh and "审计链" in zh and "0 项问题" in zh


def test_trimmed_fonts_not_built_are_a_warning_with_the_command(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTFLOW_FONT_CACHE", str(tmp_path / "no-fonts-here"))
    code, out = _doctor("--lang", "en")
    assert code == 0, out  # the documents still render, with the full fonts
    (line,) = _line(out, "trimmed CJK fonts")
    assert line.startswith("WARN") and "sans-regular" in line and "no-fonts-here" in line
    assert "make fonts" in out and "0 problem(s), 3 warning(s)" in out


def test_a_working_smtp_server_is_ok(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_smtp()
    try:
        monkeypatch.setenv("GRANTFLOW_SMTP_HOST", server.host)
        monkeypatch.setenv("GRANTFLOW_SMTP_PORT", str(server.port))
        reset_settings()
        code, out = _doctor("--lang", "en")
    finally:
        server.controller.stop()
    assert code == 0, out
    (smtp,) = _line(out, "e-mail (SMTP)")
    assert smtp.startswith("OK") and f"127.0.0.1:{server.port} answers EHLO" in smtp


def test_a_wrong_smtp_port_is_named(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("GRANTFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GRANTFLOW_SMTP_PORT", str(port))
    reset_settings()
    code, out = _doctor("--lang", "en")
    assert code == 1
    (smtp, *_) = _line(out, "e-mail (SMTP)")
    assert smtp.startswith("PROBLEM") and f"127.0.0.1:{port}" in smtp
    assert "fix: check GRANTFLOW_SMTP_HOST / GRANTFLOW_SMTP_PORT" in out
    assert "1 problem(s)" in out


def test_a_stopped_prefect_server_is_named(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    code, out = _doctor("--lang", "en")
    assert code == 1
    (prefect,) = _line(out, "Prefect scheduler")
    assert prefect.startswith("PROBLEM") and f"cannot reach the Prefect server {url}" in prefect
    assert "prefect server start" in out


class _PrefectWithoutDeployments(BaseHTTPRequestHandler):
    """Answers health like a Prefect server, and knows one grantflow deployment only."""

    def do_GET(self) -> None:
        known = ("/api/health", "/api/deployments/name/dispatch/grantflow")
        self.send_response(200 if self.path in known else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"true" if self.path in known else b'{"detail":"Not Found"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prefect_stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PrefectWithoutDeployments)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_missing_deployments_are_named(fresh: Path, monkeypatch: pytest.MonkeyPatch, prefect_stand_in: str) -> None:
    monkeypatch.setenv("PREFECT_API_URL", prefect_stand_in)
    code, out = _doctor("--lang", "en")
    assert code == 1
    healthy, missing = _line(out, "Prefect scheduler")
    assert healthy.startswith("OK") and "is healthy" in healthy
    assert missing.startswith("PROBLEM") and "deployments missing: deadlines, reminders, digest" in missing
    assert "dispatch," not in missing and "run `grantflow deploy`" in out


def test_fonts_missing_from_the_fontconfig_path_are_named(fresh: Path, tmp_path: Path) -> None:
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n",
        encoding="utf-8",
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf), "GRANTFLOW_HOME": str(fresh)}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "grantflow", "doctor", "--min-free-mb", "1", "--lang", "en"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (fonts,) = _line(done.stdout, "CJK font")
    assert fonts.startswith("PROBLEM") and "fontconfig finds no CJK font" in fonts
    assert "fonts-noto-cjk" in done.stdout
    assert "Traceback" not in done.stderr
    # everything else is still fine: only the fonts are named
    assert "1 problem(s)" in done.stdout


def test_a_readable_key_and_a_missing_database_are_named(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = get_settings().audit_key_path
    key.chmod(0o644)
    code, out = _doctor("--lang", "en")
    assert code == 1 and f"{key} has mode 0644" in out and f"chmod 600 {key}" in out
    key.chmod(0o600)
    monkeypatch.setenv("GRANTFLOW_HOME", str(fresh.parent / "nowhere"))
    reset_settings()
    code, out = _doctor("--lang", "en")
    assert code == 1
    (database,) = _line(out, "database")
    assert database.startswith("PROBLEM") and "does not exist" in database and "grantflow init" in out
    assert not (fresh.parent / "nowhere" / "grantflow.db").exists()  # doctor did not create one


def test_a_listed_font_that_does_not_render_chinese_is_named(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fontconfig may list a CJK family that the layout does not really get (a broken or shadowed
    font): the PDF is what counts. Here the test render sees only a Latin font."""
    from grantflow.services import doctor

    latin = next((d for d in ("/usr/share/fonts/truetype/dejavu",) if Path(d).is_dir()), None)
    if latin is None:
        pytest.skip("no DejaVu fonts to stand for a font without Chinese")
    conf = tmp_path / "latin.conf"
    conf.write_text(
        f"<?xml version='1.0'?>\n<fontconfig><dir>{latin}</dir><cachedir>{tmp_path / 'fc'}</cachedir></fontconfig>\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))  # seen by the render's child process
    monkeypatch.setattr(doctor, "_fc", lambda *args: "Noto Sans CJK SC\n")
    finding = doctor.check_fonts()
    assert finding.status is doctor.Status.FAIL
    assert "does not read back" in finding.detail.en and "DejaVu" in finding.detail.en
    assert "乱码" in finding.detail.zh


def test_a_database_behind_the_code_is_told_to_upgrade(fresh: Path) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from grantflow.db.migrate import alembic_config
    from grantflow.db.session import make_engine

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    older = script.get_revision(head).down_revision
    assert isinstance(older, str)
    engine = make_engine(get_settings().url)
    try:
        with engine.begin() as conn:  # as an older release left it (only the recorded revision differs)
            conn.execute(text("UPDATE alembic_version SET version_num = :older"), {"older": older})
    finally:
        engine.dispose()
    code, out = _doctor("--lang", "en")
    assert code == 1
    (database,) = _line(out, "database")
    assert database.startswith("PROBLEM") and f"is at revision {older}, code wants {head}" in database
    assert "fix: run `grantflow db upgrade`" in out
    code, zh = _doctor("--lang", "zh")
    assert f"迁移版本为 {older}" in zh and "grantflow db upgrade" in zh


@pytest.mark.postgres
@pytest.mark.slow
def test_on_postgres_the_database_is_checked_and_an_unreachable_one_named(
    pg_engine: object, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("PREFECT_API_URL", "GRANTFLOW_SMTP_HOST"):
        monkeypatch.delenv(var, raising=False)
    assert runner.invoke(app, ["init"]).exit_code == 0
    code, out = _doctor("--lang", "en")
    assert code == 0, out
    (database,) = _line(out, "database")
    assert database.startswith("OK") and "postgresql+psycopg://" in database and "at head" in database
    dead = f"postgresql+psycopg://grantflow:not-shown@127.0.0.1:{_closed_port()}/grantflow"
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", dead)
    reset_settings()
    code, out = _doctor("--lang", "en")
    assert code == 1, out
    (database,) = _line(out, "database")
    assert database.startswith("PROBLEM") and "cannot reach" in database
    assert "not-shown" not in out  # the password is never printed
    assert "check GRANTFLOW_DATABASE_URL" in out


def test_a_configuration_that_cannot_be_read_is_named_without_its_value(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTFLOW_SESSION_IDLE_S", "half an hour")
    monkeypatch.setenv("GRANTFLOW_LANGUAGE", "en")
    reset_settings()
    result = runner.invoke(app, ["doctor"])  # no --lang: the language setting is unreadable too
    assert result.exit_code == 1
    (config,) = _line(result.output, "configuration")
    assert config.startswith("PROBLEM") and "session_idle_s: Input should be a valid integer" in config
    assert "half an hour" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_real_prefect_server_deployed_then_stopped(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a real Prefect server: missing deployments named, then none after `grantflow deploy`,
    then the stopped server named."""
    from grantflow.flows.server import LocalPrefectServer, free_port

    quick = {"PREFECT_UI_ENABLED": "false"}
    repo = Path(__file__).resolve().parent.parent
    with LocalPrefectServer(tmp_path / "prefect", port=free_port(), env=quick) as server:
        monkeypatch.setenv("PREFECT_API_URL", server.api_url)
        code, out = _doctor("--lang", "en")
        assert code == 1
        healthy, missing = _line(out, "Prefect scheduler")
        assert (
            healthy.startswith("OK") and missing.startswith("PROBLEM") and "deployments missing: deadlines" in missing
        )
        env = {**os.environ, **quick, "PREFECT_HOME": str(tmp_path / "prefect")}
        deployed = subprocess.run(
            [str(Path(sys.executable).parent / "grantflow"), "deploy", "--pool", "doctor-pool", "--paused"],
            env=env, cwd=repo, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        code, out = _doctor("--lang", "en")
        assert code == 0, out
        assert [line.split()[0] for line in _line(out, "Prefect scheduler")] == ["OK", "OK"]
        assert "grantflow deployments exist" in out
    code, out = _doctor("--lang", "en")  # the server is stopped now
    assert code == 1
    (prefect,) = _line(out, "Prefect scheduler")
    assert prefect.startswith("PROBLEM") and f"cannot reach the Prefect server {server.api_url}" in prefect
