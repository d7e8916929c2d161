"""Workflow definitions as data: structure, variants chosen by configuration, renames that strand nothing."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.config import reset_settings
from grantflow.db.models import AuditEvent, Project
from grantflow.db.session import dispose_engines
from grantflow.db.workflows import SHIPPED, clear_cache, get_registry, read_documents
from grantflow.services.bootstrap import init_database
from grantflow.states.errors import WorkflowInvalid
from grantflow.states.workflow import registry_from_documents
from tests.conftest import People
from tests.factories import make_call, make_project, state_of

ROOT = Path(__file__).resolve().parent.parent


def test_every_shipped_workflow_is_valid_and_reaches_a_terminal_state():
    registry = registry_from_documents(read_documents(SHIPPED))
    assert set(registry.names("project")) == {"standard", "short", "concept"}
    for wf in registry:
        assert wf.terminal_states, wf.name
        assert wf.initial in wf.states


def test_one_shared_machine_per_workflow(engine: Engine, people: People, now: datetime):
    wf = get_registry().get("standard")
    machine = wf.machine
    make_project(engine, people, now, state="in_execution")
    make_project(engine, people, now, applicant="applicant2", state="submitted")
    assert get_registry().get("standard").machine is machine
    assert machine.models == []  # stored projects are never attached to it


def _variant(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {"name": "v", "base": "standard"}
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            _variant(transitions=[{"trigger": "x", "source": "draft", "dest": "nowhere", "who": ["office"]}]),
            "names unknown state 'nowhere'",
        ),
        (_variant(remove_states=["midterm_passed"]), "state 'acceptance_review' is unreachable"),
        (
            _variant(
                states=[{"name": "limbo", "zh": "悬置", "en": "limbo"}],
                transitions=[{"trigger": "park", "source": "in_execution", "dest": "limbo", "who": ["office"]}],
            ),
            "state 'limbo' is a dead end",
        ),
        (
            _variant(states=[{"name": "island", "zh": "孤岛", "en": "island", "terminal": True}]),
            "state 'island' is unreachable",
        ),
        (_variant(remove_states=["no_such_state"]), "remove_states names unknown state 'no_such_state'"),
        (
            _variant(
                transitions=[
                    {"trigger": "x", "source": "draft", "dest": "closed", "who": ["office"], "guards": ["moon_is_full"]}
                ]
            ),
            "unknown guard 'moon_is_full'",
        ),
        (
            _variant(transitions=[{"trigger": "x", "source": "draft", "dest": "closed", "who": ["janitor"]}]),
            "unknown permission preset 'janitor'",
        ),
        (_variant(renamed={"old": "missing"}), "renamed state 'old' maps to unknown state 'missing'"),
        (_variant(base="nonexistent"), "base workflow 'nonexistent' is unknown"),
    ],
)
def test_invalid_variants_are_refused_naming_the_state(doc: dict[str, object], message: str):
    with pytest.raises(WorkflowInvalid) as caught:
        registry_from_documents([doc])
    assert message in caught.value.message.en
    assert "流程定义“v”有误" in caught.value.message.zh or "nonexistent" in caught.value.message.zh


def _use_workflows_dir(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("GRANTFLOW_WORKFLOWS_DIR", str(path))
    reset_settings()
    clear_cache()


def test_a_call_chooses_a_configured_variant(
    engine: Engine, people: People, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "fast.toml").write_text(
        textwrap.dedent(
            """
            name = "fast_track"
            base = "short"
            zh = "快速通道"
            en = "fast track"
            remove_states = ["returned"]
            """
        ),
        encoding="utf-8",
    )
    _use_workflows_dir(monkeypatch, tmp_path)
    wf = get_registry().get("fast_track")
    assert "midterm_review" not in wf.states
    assert "return_for_correction" not in wf.triggers
    pid = make_project(engine, people, now, workflow="fast_track", state="acceptance_review")
    assert state_of(engine, pid) == "acceptance_review"


def test_renaming_a_state_maps_stored_projects(
    engine: Engine, people: People, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A variant renames `midterm_passed`; `grantflow db upgrade` moves stored projects and audits it."""
    (tmp_path / "v1.toml").write_text('name = "v"\nbase = "standard"\n', encoding="utf-8")
    _use_workflows_dir(monkeypatch, tmp_path)
    call_id = make_call(engine, people, now, workflow="v")
    pid = make_project(engine, people, now, call_id=call_id, workflow="v", state="midterm_passed")

    # version 2 of the variant: the state gets a new name
    (tmp_path / "v1.toml").write_text(
        textwrap.dedent(
            """
            name = "v"
            base = "standard"
            remove_states = ["midterm_passed"]
            [[states]]
            name = "late_execution"
            zh = "中期后执行"
            en = "executing after mid-term"
            editable = { acceptance_report = ["applicant"] }
            [[transitions]]
            trigger = "pass_midterm"
            source = "midterm_review"
            dest = "late_execution"
            who = ["office", "organiser"]
            [[transitions]]
            trigger = "submit_acceptance"
            source = "late_execution"
            dest = "acceptance_review"
            who = ["applicant"]
            guards = ["has_acceptance_report"]
            [[transitions]]
            trigger = "suspend"
            source = "late_execution"
            dest = "suspended"
            who = ["office"]
            requires = ["reason"]
            effects = ["remember_source"]
            [[transitions]]
            trigger = "resume"
            source = "suspended"
            dest = "late_execution"
            who = ["office"]
            guards = ["suspended_from_late_execution"]
            effects = ["forget_source"]
            [renamed]
            midterm_passed = "late_execution"
            """
        ),
        encoding="utf-8",
    )
    clear_cache()
    result = CliRunner().invoke(app, ["--lang", "en", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "states remapped: 1" in result.output
    assert state_of(engine, pid) == "late_execution"
    with engine.connect() as conn:
        event = conn.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (event.action, event.from_state, event.to_state) == ("state_renamed", "midterm_passed", "late_execution")


def test_a_stranded_state_is_an_error_that_names_it(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="in_execution")
    with engine.begin() as conn:  # a state removed without a migration (simulated by hand here)
        conn.execute(update(Project).where(Project.id == pid).values(state="old_execution"))
    with pytest.raises(WorkflowInvalid) as caught:
        init_database(engine)
    assert f"project {pid} in 'old_execution' (standard)" in caught.value.message.en
    from grantflow.db.apply import StrandedState, fire

    with pytest.raises(StrandedState) as stranded:
        fire(engine, subject_id=pid, trigger="suspend", actor=people["office"], payload={"reason": "x"}, now=now)
    assert "old_execution" in stranded.value.message.en and "grantflow db upgrade" in stranded.value.message.zh


def test_readme_diagram_is_generated_from_the_table():
    from grantflow.states.diagram import mermaid

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block, "README.md has no mermaid block"
    assert block.group(1) == mermaid(get_registry().get("standard"), lang="en")
    assert (ROOT / "docs" / "lifecycle.svg").is_file()


def test_cli_diagram_formats(home: Path, tmp_path: Path):
    runner = CliRunner()
    out = runner.invoke(app, ["diagram", "--workflow", "short"])
    assert out.exit_code == 0 and out.output.lstrip().startswith("---") and "stateDiagram-v2" in out.output
    assert "midterm_review" not in out.output
    svg = tmp_path / "x.svg"
    res = runner.invoke(app, ["diagram", "--format", "svg", "--lang", "zh", "-o", str(svg)])
    assert res.exit_code == 0, res.output
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "专家评审中" in text
    dispose_engines()
