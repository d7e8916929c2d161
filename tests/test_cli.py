"""The `grantflow` command on a fresh data directory, as a new user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.config import reset_settings
from grantflow.db.models import AuditEvent, Base, Programme, Project, User
from grantflow.db.session import dispose_engines, get_engine, make_engine
from grantflow.db.workflows import clear_cache

runner = CliRunner()


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "fresh"  # does not exist yet: grantflow must create it
    monkeypatch.setenv("GRANTFLOW_HOME", str(home))
    monkeypatch.delenv("GRANTFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRANTFLOW_WORKFLOWS_DIR", raising=False)
    reset_settings()
    clear_cache()
    yield home
    dispose_engines()
    reset_settings()


def test_init_is_idempotent_and_seeds_twelve_programmes(fresh_home: Path):
    first = runner.invoke(app, ["init", "--demo"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["init", "--demo"])
    assert again.exit_code == 0 and "rows added: 0" in again.output
    engine = get_engine()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Programme)).scalar_one() == 12
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_demo_runs_the_whole_story_on_a_fresh_home_in_a_real_process(fresh_home: Path):
    """The main job, exactly as `make run` starts it: a separate process, nothing prepared."""
    env = {**os.environ, "GRANTFLOW_HOME": str(fresh_home), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "grantflow", "demo", "--lang", "en"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "audit chain: intact" in done.stdout
    engine = make_engine(f"sqlite:///{fresh_home / 'grantflow.db'}")
    with engine.connect() as conn:
        story = sorted(conn.execute(select(Project.state).order_by(Project.id).limit(3)).scalars())
        states = set(conn.execute(select(Project.state)).scalars())
        actions = set(conn.execute(select(AuditEvent.action)).scalars())
    engine.dispose()
    # the narrated story's three projects ended years ago; the living demo holds every other state
    assert story == ["closed", "closed", "rejected"]
    assert {"draft", "under_review", "in_execution", "midterm_review", "suspended", "terminated"} <= states
    for step in (
        "launch",
        "publish",
        "open",
        "submit",
        "return_for_correction",
        "accept_formal",
        "approve",
        "reject",
        "sign_agreement",
        "pass_midterm",
        "require_rectification",
        "pass_acceptance",
        "close",
    ):
        assert step in actions, step


def test_fire_explains_refusals_in_both_languages(fresh_home: Path):
    assert runner.invoke(app, ["demo"]).exit_code == 0
    with get_engine().connect() as conn:
        closed = conn.execute(select(Project.id).where(Project.state == "closed").limit(1)).scalar_one()
    zh = runner.invoke(app, ["fire", str(closed), "approve", "--as", "office@kw.example.cn"])
    assert zh.exit_code == 2
    assert "当前状态“已结题”下不能执行“approve”" in zh.output
    en = runner.invoke(app, ["fire", str(closed), "approve", "--as", "office@kw.example.cn", "--lang", "en"])
    assert "not possible in state 'closed'" in en.output and "Allowed from here: none" in en.output
    nobody = runner.invoke(app, ["fire", str(closed), "approve", "--as", "nobody@example.com", "--lang", "en"])
    assert nobody.exit_code == 2 and "user nobody@example.com does not exist" in nobody.output


def test_migrations_match_the_models(fresh_home: Path):
    """Alembic's history and the models describe the same schema (no forgotten migration)."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    with get_engine().connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []
    status = runner.invoke(app, ["--lang", "en", "db", "status"])
    assert status.exit_code == 0 and "up to date" in status.output


def test_office_registers_an_organisation_and_a_person_who_can_then_act(fresh_home: Path):
    assert runner.invoke(app, ["init"]).exit_code == 0
    org = runner.invoke(
        app, ["orgs", "add", "北方材料研究院", "--kind", "undertaking_unit", "--domain", "bm.example.cn"]
    )
    assert org.exit_code == 0, org.output
    org_id = org.output.split()[1].rstrip(":")
    user = runner.invoke(
        app,
        ["users", "add", "PI@bm.example.cn", "--name", "韩研究员", "--org", org_id, "--role", "applicant"],
        input="s3cret\ns3cret\n",
    )
    assert user.exit_code == 0, user.output
    from grantflow.services.actors import actor_for
    from grantflow.services.passwords import verify_password

    with get_engine().connect() as conn:
        actor = actor_for(conn, email="pi@bm.example.cn")
        stored = conn.execute(select(User.password_hash).where(User.email == "pi@bm.example.cn")).scalar_one()
    assert actor.roles == frozenset({"applicant"}) and actor.organisation_id == int(org_id)
    assert verify_password("s3cret", stored) and not verify_password("wrong", stored)
    dup = runner.invoke(
        app, ["users", "add", "pi@bm.example.cn", "--name", "x", "--org", org_id, "--role", "applicant"], input="a\na\n"
    )
    assert dup.exit_code == 2 and "user exists" in dup.output


def test_demo_if_empty_runs_once(fresh_home: Path):
    first = runner.invoke(app, ["--lang", "en", "demo", "--if-empty"])
    assert first.exit_code == 0 and "audit chain: intact" in first.output
    with get_engine().connect() as conn:
        seeded = conn.execute(select(func.count()).select_from(Project)).scalar_one()
    second = runner.invoke(app, ["demo", "--if-empty"])  # GRANTFLOW_LANGUAGE's default: Chinese
    assert second.exit_code == 0 and "已有项目：跳过演示故事" in second.output
    with get_engine().connect() as conn:
        assert conn.execute(select(func.count()).select_from(Project)).scalar_one() == seeded > 3
