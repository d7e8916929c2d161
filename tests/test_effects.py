"""Every effect a workflow table names is carried out: a column effect (``states.effects``) or a
handler that writes rows in the engine's transaction (``db.effects``). One without either is an
error when the workflows are loaded, naming it, never a transition that silently skips it."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

import grantflow.states.effects
from grantflow.config import reset_settings
from grantflow.db.apply import fire
from grantflow.db.effects import RECORDED_EFFECT_HANDLERS
from grantflow.db.workflows import SHIPPED, clear_cache, get_registry, read_documents
from grantflow.states.effects import EFFECTS, RECORDED_EFFECTS
from grantflow.states.errors import WorkflowInvalid
from grantflow.states.lifecycle import BUILTIN_WORKFLOWS
from grantflow.states.permissions import acting_for_adjustment
from grantflow.states.workflow import registry_from_documents
from tests.conftest import People
from tests.factories import make_project, state_of


def test_every_effect_named_in_a_builtin_or_shipped_table_has_a_handler() -> None:
    registry = registry_from_documents(read_documents(SHIPPED))
    assert {wf.name for wf in registry} >= {doc["name"] for doc in BUILTIN_WORKFLOWS} | {"short", "concept"}
    named = {(wf.name, t.trigger, e) for wf in registry for t in wf.transitions for e in t.effects}
    assert named, "the tables name effects"
    for workflow, trigger, effect in sorted(named):
        assert effect in EFFECTS or effect in RECORDED_EFFECT_HANDLERS, f"{workflow}.{trigger}: {effect} has no handler"


def test_every_recorded_effect_states_knows_has_a_handler_and_no_handler_is_unnamed() -> None:
    assert set(RECORDED_EFFECTS) == set(RECORDED_EFFECT_HANDLERS)


UNHANDLED = "notify_the_minister"


@pytest.fixture
def unhandled_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    """An effect ``states`` accepts in tables but nothing in ``db.effects`` carries out."""
    monkeypatch.setitem(grantflow.states.effects.RECORDED_EFFECTS, UNHANDLED, "tell the minister")


def test_a_variant_naming_an_effect_without_handler_fails_to_load_naming_it(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unhandled_effect: None
) -> None:
    variants = tmp_path / "variants"
    variants.mkdir()
    (variants / "minister.toml").write_text(
        textwrap.dedent(
            f"""
            name = "minister"
            base = "standard"
            remove_transitions = [{{ trigger = "close" }}]

            [[transitions]]
            trigger = "close"
            source = "post_evaluation"
            dest = "closed"
            who = ["office"]
            guards = ["post_evaluation_complete"]
            effects = ["{UNHANDLED}"]
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("GRANTFLOW_WORKFLOWS_DIR", str(variants))
    reset_settings()
    clear_cache()
    with pytest.raises(WorkflowInvalid) as caught:
        get_registry()
    assert caught.value.details["workflow"] == "minister"
    assert f"effect '{UNHANDLED}' has no handler" in caught.value.text("en")
    assert UNHANDLED in caught.value.text("zh")


def test_firing_such_a_row_from_a_registry_built_elsewhere_fails_instead_of_skipping_it(
    engine: Engine, people: People, now: datetime, unhandled_effect: None
) -> None:
    doc = next(d for d in BUILTIN_WORKFLOWS if d["name"] == "standard")
    transitions = [
        {**t, "effects": [*t.get("effects", []), UNHANDLED]} if t["trigger"] == "suspend" else t
        for t in doc["transitions"]
    ]
    pid = make_project(engine, people, now, state="in_execution")
    registry = registry_from_documents([{**doc, "transitions": transitions}])
    with pytest.raises(WorkflowInvalid, match=UNHANDLED):
        fire(
            engine,
            subject_id=pid,
            trigger="suspend",
            actor=acting_for_adjustment(people["office"]),
            payload={"reason": "测试"},
            now=now,
            registry=registry,
        )
    assert state_of(engine, pid) == "in_execution"  # nothing was written
