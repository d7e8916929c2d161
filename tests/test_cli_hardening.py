"""The command line never shows a traceback for bad input, speaks one language, and refuses to
serve on a busy port or with an unready production configuration; secrets never show."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from grantflow.cli.main import app
from grantflow.config import ConfigurationError, Settings, get_settings, reset_settings
from grantflow.notifications.mailer import SmtpConfig
from grantflow.web.app import create_app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def clean_refusal(result: Result) -> str:
    """A refusal: exit 2, no traceback, the message on one or a few lines."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_bad_input_is_one_clear_line(home: Path) -> None:
    said = clean_refusal(runner.invoke(app, ["fire", "1", "approve", "--as", "office@kw.example.cn", "--payload", "x"]))
    assert "--payload 必须是 JSON 对象" in said
    said = clean_refusal(runner.invoke(app, ["--lang", "en", "diagram", "--workflow", "nope"]))
    assert "unknown workflow 'nope'" in said and "standard" in said and "short" in said
    said = clean_refusal(
        runner.invoke(
            app, ["--lang", "en", "fire", "1", "nope", "--subject", "programme", "--as", "leader@kw.example.cn"]
        )
    )
    assert "unknown trigger 'nope'" in said and "launch" in said
    said = clean_refusal(
        runner.invoke(
            app,
            [
                "--lang",
                "en",
                "review",
                "call-create",
                "--as",
                "organiser@jxw.example.cn",
                "--programme",
                "7",
                "--title",
                "x",
                "--category",
                "supported",
                "--mode",
                "merit",
                "--support",
                "nope",
                "--opens",
                "2026-01-01",
                "--closes",
                "2026-02-01",
            ],
        )
    )
    assert "unknown support mode 'nope'" in said and "competitive" in said and "post_subsidy" in said
    said = clean_refusal(runner.invoke(app, ["fire", "9" * 30, "approve", "--as", "office@kw.example.cn"]))
    assert "超出范围" in said


def test_every_command_speaks_the_one_configured_language(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zh_demo = runner.invoke(app, ["demo"])
    zh_audit = runner.invoke(app, ["audit", "verify"])
    assert zh_demo.exit_code == 0 and zh_audit.exit_code == 0
    assert "审计链完整" in zh_demo.output and "审计链完整" in zh_audit.output and "→" in zh_demo.output
    assert "audit chain" not in zh_demo.output and "drafted by" not in zh_demo.output
    monkeypatch.setenv("GRANTFLOW_LANGUAGE", "en")
    reset_settings()
    en_audit = runner.invoke(app, ["audit", "verify"])
    en_projects = runner.invoke(app, ["--lang", "en", "projects"])
    assert "audit chain intact" in en_audit.output and "closed" in en_projects.output
    zh_again = runner.invoke(app, ["--lang", "zh", "audit", "verify"])
    assert "审计链完整" in zh_again.output


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # only the settings the test gives: nothing of this process's own configuration leaks in
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GRANTFLOW_", "PREFECT_"))}
    return subprocess.run(
        [sys.executable, "-m", "grantflow", *args],
        env={**inherited, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_serve_on_a_busy_port_says_so_in_one_line(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run("--lang", "en", "serve", "--port", str(port), env={"GRANTFLOW_HOME": str(home)})
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) <= 2 and f"port {port}" in lines[0] and "busy" in lines[0], lines
    assert "Traceback" not in done.stderr


def test_production_refuses_to_start_without_a_real_secret(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = _run("--lang", "en", "serve", env={"GRANTFLOW_HOME": str(home), "GRANTFLOW_ENV": "production"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "GRANTFLOW_SECRET_KEY is not set" in done.stderr
    monkeypatch.setenv("GRANTFLOW_ENV", "production")
    for weak in ("change-me", "grantflow", "short-but-random-x1"):
        monkeypatch.setenv("GRANTFLOW_SECRET_KEY", weak)
        reset_settings()
        with pytest.raises(ConfigurationError, match="GRANTFLOW_SECRET_KEY"):
            create_app()
    # a generated key file in the data directory is not accepted in production either
    (home / "secret_key").write_text("x" * 64)
    monkeypatch.delenv("GRANTFLOW_SECRET_KEY")
    reset_settings()
    with pytest.raises(ConfigurationError):
        create_app()
    monkeypatch.setenv("GRANTFLOW_SECRET_KEY", "k" * 20 + os.urandom(16).hex())
    monkeypatch.setenv("GRANTFLOW_SMTP_HOST", "smtp.example.cn")
    monkeypatch.setenv("GRANTFLOW_SMTP_USER", "grantflow")
    reset_settings()
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    assert "SMTP_PASSWORD" in refused.value.message.en and "TLS" in refused.value.message.en
    monkeypatch.setenv("GRANTFLOW_SMTP_PASSWORD", "a-real-password")
    monkeypatch.setenv("GRANTFLOW_SMTP_STARTTLS", "true")
    reset_settings()
    web = create_app()
    assert web.docs_url is None  # no interactive API page in production


def test_secrets_are_never_shown(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GRANTFLOW_SECRET_KEY", "session-key-that-must-not-leak-0123456789")
    monkeypatch.setenv("GRANTFLOW_SMTP_PASSWORD", "smtp-password-that-must-not-leak")
    reset_settings()
    s = get_settings()
    assert isinstance(s.secret_key, SecretStr) and isinstance(s.smtp_password, SecretStr)
    smtp = SmtpConfig(host="h", user="u", password=s.smtp_password)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("grantflow").info("settings %s %r %s", s, s, smtp)
    shown = repr(s) + str(s) + repr(smtp) + str(s.model_dump()) + caplog.text
    assert "must-not-leak" not in shown
    assert s.smtp_password is not None and s.smtp_password.get_secret_value() == "smtp-password-that-must-not-leak"
    reset_settings()


def test_settings_accept_the_documented_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANTFLOW_TRUSTED_ORIGINS", "https://a.example.cn/, https://b.example.cn")
    assert Settings().trusted_origins == ["https://a.example.cn", "https://b.example.cn"]


def test_make_run_installs_only_when_the_dependencies_changed_and_takes_a_port(tmp_path: Path) -> None:
    """`make -n` (what make would run) with a virtual environment already installed."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    stamp = venv / ".installed"
    stamp.touch()
    os.utime(stamp, (os.path.getmtime(ROOT / "pyproject.toml") + 60,) * 2)
    fresh = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "run", f"VENV={venv}", "PORT=8123"], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install" not in fresh and "--port 8123" in fresh
    os.utime(stamp, (os.path.getmtime(ROOT / "pyproject.toml") - 60,) * 2)
    stale = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "run", f"VENV={venv}"], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install -q -e ." in stale and "--port 8000" in stale


def test_the_readme_says_how_to_run_grantflow_commands() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert ".venv/bin/grantflow" in readme and "source .venv/bin/activate" in readme


def test_a_configuration_that_cannot_be_read_is_named_without_its_value(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTFLOW_SMTP_PORT", "s3cret-port-value")
    reset_settings()
    said = clean_refusal(runner.invoke(app, ["init"]))
    assert "配置无法读取" in said and "smtp_port" in said and "GRANTFLOW_CONFIG" in said
    assert "s3cret-port-value" not in said
    monkeypatch.setenv("GRANTFLOW_LANGUAGE", "en")
    reset_settings()
    said = clean_refusal(runner.invoke(app, ["fire", "1", "submit", "--as", "office@kw.example.cn"]))
    assert said.startswith("the configuration cannot be read: smtp_port") and "s3cret-port-value" not in said
    monkeypatch.delenv("GRANTFLOW_SMTP_PORT")
    (home / "grantflow.toml").write_text("language = [broken\n", encoding="utf-8")
    monkeypatch.setenv("GRANTFLOW_CONFIG", str(home / "grantflow.toml"))
    reset_settings()
    said = clean_refusal(runner.invoke(app, ["init"]))
    assert "the configuration cannot be read" in said and "line 1" in said


def test_a_schema_older_than_the_code_is_one_line_saying_to_upgrade(home: Path) -> None:
    from grantflow.db.migrate import downgrade
    from grantflow.db.session import get_engine

    assert runner.invoke(app, ["init"]).exit_code == 0
    downgrade(get_engine(), "0007s")  # as after installing a newer grantflow without `db upgrade`
    said = clean_refusal(runner.invoke(app, ["audit", "anchor", "--lang", "en"]))
    assert said == "the database schema is older than this version of grantflow: run `grantflow db upgrade` first"
    status = runner.invoke(app, ["--lang", "en", "db", "status"])
    assert status.exit_code == 1 and "migrations pending" in status.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["audit", "anchor", "--lang", "en"]).exit_code == 0
