"""Every state-dependent rule comes from the workflow table: the source names no state, forms
lock by state, assignments scope reviewers and evaluators, and the concept workflow gets the
same treatment as the standard one (reminders, review stage, submit trigger)."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.config import get_settings
from grantflow.db.apply import fire
from grantflow.db.facts import load_facts
from grantflow.db.models import OutboxMessage, Project, Submission
from grantflow.db.workflows import SHIPPED, clear_cache, get_registry, read_documents
from grantflow.flows.sweep import reminder_sweep
from grantflow.services.files import store_attachment
from grantflow.services.forms import save_form
from grantflow.services.records import record_review, save_submission
from grantflow.services.review import assign, item, reviews_for
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import Forbidden, WorkflowInvalid
from grantflow.states.lifecycle import DEFAULT_QUORUM
from grantflow.states.permissions import FormLocked
from grantflow.states.workflow import registry_from_documents
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import drive, make_call, make_project, state_of
from tests.test_bids import SECRET, Tender_
from tests.test_forms_store import proposal
from tests.web import WebClient

ROOT = Path(__file__).resolve().parent.parent
NOT_A_STATE = "not a workflow state"
SCANNED = ("web", "cli", "flows", "notifications", "services")
SUFFIXES = {".py", ".html", ".j2", ".txt", ".js"}
PDF = b"%PDF-1.4\n%%EOF\n"
runner = CliRunner()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return WebClient(create_app())


def login(client: TestClient, email: str) -> None:
    client.post("/logout")
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def _assign(engine: Engine, people: People, now: datetime, pid: int, who: str, stage: str) -> None:
    with engine.begin() as conn:
        assign(conn, project_id=pid, stage=stage, reviewer_id=people[who].user_id, actor=people["office"], now=now)


# --- no state name outside states/ ------------------------------------------------------------------


def test_no_state_name_is_typed_outside_the_rules() -> None:
    """Web, CLI, flows, notifications and services ask ``states`` where a project stands: not one
    state name of any built-in workflow appears there as a quoted string or template literal."""
    registry = registry_from_documents(read_documents(SHIPPED))
    names = sorted({state for wf in registry for state in wf.states})
    assert {"draft", "concept", "under_review", "open", "planned"} <= set(names)
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"""(["'`])({alternatives})\1""")
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in SUFFIXES or ".venv" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if NOT_A_STATE in line:  # a key or status that shares a word with some state, marked so
                    continue
                for match in pattern.finditer(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {match.group(0)}")
    assert found == [], "state names typed outside states/:\n" + "\n".join(found)


# --- the table's attributes, validated ----------------------------------------------------------------


def test_review_stage_map_in_force_for_every_shipped_workflow() -> None:
    registry = get_registry()
    concept = registry.get("concept")
    assert concept.review_stage("concept_review") == "concept"
    assert concept.review_stage("under_review") == "proposal"
    assert concept.submit_trigger("concept") == "submit_concept"
    assert concept.submit_trigger("draft") == "submit" and concept.submit_trigger("returned") == "resubmit"
    assert concept.state("concept").applying and not concept.state("concept").ranked
    short = registry.get("short")
    assert "acceptance_report" in short.state("in_execution").editable
    assert "midterm_report" not in short.state("in_execution").editable
    for wf in registry:
        for t in wf.transitions:
            if "quorum_reached" in t.guards:
                assert wf.review_stage(t.source), (wf.name, t.trigger)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[attributes.draft]\neditable = { no_such_form = ["applicant"] }', "state 'draft' makes unknown form"),
        ('[attributes.draft]\neditable = { proposal = ["nobody"] }', "state 'draft' lets unknown preset 'nobody'"),
        ('[attributes.under_review]\nreview_stage = "tasting"', "state 'under_review' names unknown review stage"),
        ('[attributes.draft]\nviewers = ["public_at_large"]', "state 'draft' names unknown viewer preset"),
        ('[attributes.draft]\nreminders = ["carrier_pigeon"]', "state 'draft' names unknown reminder"),
        ('[attributes.draft]\ncolour = "red"', "state 'draft' has unknown attribute 'colour'"),
        ("[attributes.nowhere]\nactive = true", "attributes name unknown state 'nowhere'"),
        ("[attributes.draft]\neditable = {}", "state 'draft': transition 'submit' needs form 'proposal'"),
        ('[attributes.under_review]\nreview_stage = ""', "state 'under_review': transition 'approve' counts a quorum"),
    ],
)
def test_a_variant_naming_something_unknown_is_refused_naming_the_state(toml: str, named: str) -> None:
    doc = 'name = "v"\nbase = "standard"\n' + toml
    import tomllib

    with pytest.raises(WorkflowInvalid) as caught:
        registry_from_documents([tomllib.loads(doc)])
    assert named in caught.value.message.en


def test_workflows_show_prints_the_effective_table_of_a_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "strict.toml").write_text(
        textwrap.dedent(
            """
            name = "strict"
            base = "concept"
            [attributes.returned]
            editable = { proposal = ["applicant", "office"] }
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("GRANTFLOW_WORKFLOWS_DIR", str(tmp_path))
    get_settings.cache_clear()
    clear_cache()
    try:
        shown = runner.invoke(cli, ["workflows", "show", "strict", "--lang", "en"], env={"COLUMNS": "400"})
    finally:
        get_settings.cache_clear()
        clear_cache()
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "variant of concept" in out and "concept_review" in out and "submit_concept" in out
    assert "提交项目概要" in out and "submit concept note" in out  # transitions with both labels
    assert "applicant, office" in out  # the variant's own attribute
    assert "counts:" in out and "concept review" in out
    missing = runner.invoke(cli, ["workflows", "show", "nope"])
    assert missing.exit_code == 2 and "nope" in missing.output


# --- forms lock when their stage is submitted ---------------------------------------------------------


def test_proposal_cannot_be_rewritten_under_review_by_the_service(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="under_review")
    with engine.connect() as conn:
        before = conn.execute(select(Submission.data).where(Submission.project_id == pid)).scalar_one()
    raw = proposal(people["applicant2"].organisation_id)
    with engine.begin() as conn, pytest.raises(FormLocked) as caught:
        save_form(conn, project_id=pid, form_key="proposal", raw=raw, actor=people["applicant"], submit=True, now=now)
    msg = caught.value.message
    assert "专家评审中" in msg.zh and "锁定" in msg.zh and "申报书填写中" in msg.zh
    assert "under expert review" in msg.en and "locked" in msg.en and "under_review" in msg.en
    with engine.connect() as conn:
        assert conn.execute(select(Submission.data).where(Submission.project_id == pid)).scalar_one() == before
    # nor through an attachment, nor by anyone else
    with engine.begin() as conn, pytest.raises(FormLocked):
        store_attachment(
            conn,
            project_id=pid,
            form_key="proposal",
            field="attachments",
            filename="x.pdf",
            content=PDF,
            actor=people["applicant"],
        )
    with engine.begin() as conn, pytest.raises(FormLocked):
        save_form(conn, project_id=pid, form_key="proposal", raw=raw, actor=people["office"], submit=False)


def test_a_returned_project_unlocks_exactly_the_forms_the_table_says(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="returned")
    raw = proposal(people["applicant2"].organisation_id)
    with engine.begin() as conn:
        saved = save_form(conn, project_id=pid, form_key="proposal", raw=raw, actor=people["applicant"], submit=True)
    assert saved.submitted, saved.errors
    with engine.begin() as conn, pytest.raises(FormLocked) as caught:
        save_form(conn, project_id=pid, form_key="task_agreement", raw={}, actor=people["applicant"], submit=False)
    assert "委托立项" in caught.value.message.zh  # where it can be edited


def test_locked_proposal_page_is_read_only_and_the_post_and_api_are_refused(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = make_project(engine, people, now, state="under_review")
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}/forms/proposal")
    assert page.status_code == 200
    assert 'name="project_title"' not in page.text and 'value="save"' not in page.text
    assert "已锁定" in page.text and "专家评审中" in page.text
    posted = client.post(f"/projects/{pid}/forms/proposal", data={"project_title": "新标题", "action": "submit"})
    assert posted.status_code == 403 and "已锁定" in posted.text
    api = client.post(f"/api/projects/{pid}/forms/proposal", json={"data": {"project_title": "新标题"}, "submit": True})
    body = api.json()
    assert api.status_code == 403 and body["error"] == "form_locked"
    assert "under expert review" in body["messages"]["en"] and "专家评审中" in body["messages"]["zh"]
    got = client.get(f"/api/projects/{pid}/forms/proposal").json()
    assert got["editable"] is False and "locked" in got["locked"]["en"]
    with engine.connect() as conn:
        titles = [s.data.get("project_title") for s in conn.execute(select(Submission)).all()]
    assert "新标题" not in titles
    # while drafting, the same page has its save button
    draft = make_project(engine, people, now)
    editable = client.get(f"/projects/{draft}/forms/proposal")
    assert 'name="project_title"' in editable.text and 'value="save"' in editable.text
    assert client.get(f"/api/projects/{draft}/forms/proposal").json()["editable"] is True


# --- assignment-aware permissions ---------------------------------------------------------------------


def test_only_an_assigned_evaluator_may_pass_the_midterm(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="midterm_review")
    evaluator = people["evaluator"]
    with pytest.raises(Forbidden) as caught:
        fire(engine, subject_id=pid, trigger="pass_midterm", actor=evaluator, now=now)
    assert "assigned to the project" in caught.value.message.en
    refused = runner.invoke(cli, ["fire", str(pid), "pass_midterm", "--as", "evaluator@qingyuan.example.cn"])
    assert refused.exit_code == 2 and state_of(engine, pid) == "midterm_review"
    _assign(engine, people, now, pid, "evaluator", "midterm")
    done = fire(engine, subject_id=pid, trigger="pass_midterm", actor=evaluator, now=now)
    assert (done.from_state, done.to_state) == ("midterm_review", "midterm_passed")


def test_an_evaluator_who_scored_may_not_decide(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="midterm_review")
    _assign(engine, people, now, pid, "evaluator", "midterm")
    with engine.begin() as conn:
        record_review(
            conn,
            project_id=pid,
            stage="midterm",
            reviewer=people["evaluator"],
            score=80,
            recommendation="support",
            comments="",
            no_conflict_declared=True,
            now=now,
        )
    with pytest.raises(Forbidden) as caught:
        fire(engine, subject_id=pid, trigger="pass_midterm", actor=people["evaluator"], now=now)
    assert "decision and review are separated" in caught.value.message.en


def test_an_assigned_reviewer_reads_the_proposal_and_its_files_others_get_not_found(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = make_project(engine, people, now)
    with engine.begin() as conn:
        stored = store_attachment(
            conn,
            project_id=pid,
            form_key="proposal",
            field="attachments",
            filename="plan.pdf",
            content=PDF,
            actor=people["applicant"],
        )
    drive(engine, people, pid, "under_review", now)
    with engine.connect() as conn:
        sid = conn.execute(select(Submission.id).where(Submission.project_id == pid)).scalar_one()
    _assign(engine, people, now, pid, "expert2", "proposal")
    _assign(engine, people, now, pid, "expert1", "proposal")
    with engine.begin() as conn:
        record_review(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer=people["expert1"],
            score=88,
            recommendation="support",
            comments="好",
            no_conflict_declared=True,
            now=now,
        )
    paths = [
        f"/projects/{pid}",
        f"/api/projects/{pid}",
        f"/projects/{pid}/forms/proposal",
        f"/api/projects/{pid}/forms/proposal",
        f"/submissions/{sid}",
        f"/attachments/{stored.ref.id}",
        f"/review/projects/{pid}",
    ]
    login(client, "expert2@cies.example.cn")
    for path in paths:
        assert client.get(path).status_code == 200, path
    page = client.get(f"/projects/{pid}").text
    assert people["expert1"].name not in page  # another reviewer's identity stays hidden
    assert 'name="project_title"' not in client.get(f"/projects/{pid}/forms/proposal").text  # reads, never edits
    missing = client.get("/api/projects/999999").json()
    login(client, "expert3@qingyuan.example.cn")  # a reviewer, but not of this item
    for path in paths:
        assert client.get(path).status_code == 404, path
    refused = client.get(f"/api/projects/{pid}").json()
    assert refused["error"] == missing["error"]
    assert refused["messages"]["en"] == missing["messages"]["en"].replace("999999", str(pid))
    assert all(p["id"] != pid for p in client.get("/api/projects").json())


def test_an_assigned_reviewer_never_reads_a_sealed_bid(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    tender = Tender_(engine, people, now)
    _assign(engine, people, now, tender.pid, "expert2", "proposal")  # assigned during the formal check
    login(client, "expert2@cies.example.cn")
    assert client.get(f"/projects/{tender.pid}").status_code == 200
    bid = client.get(f"/api/review/projects/{tender.pid}/bid")
    # refused before anything is looked up: the refusal says until when, not whether a bid exists
    assert SECRET not in bid.text
    assert bid.status_code == 422 and bid.json()["error"] == "bid_sealed"


# --- the concept workflow gets what the standard one gets -----------------------------------------------


def test_concept_note_drafters_get_the_call_closing_reminder(engine: Engine, people: People, now: datetime):
    call_id = make_call(engine, people, now, workflow="concept", closes_in=timedelta(days=3, hours=1))
    pid = make_project(engine, people, now, call_id=call_id, workflow="concept")
    assert state_of(engine, pid) == "concept"
    reminder_sweep(engine, now=now + timedelta(hours=2), settings=get_settings())
    with engine.connect() as conn:
        kinds = conn.execute(
            select(OutboxMessage.kind).where(OutboxMessage.subject_id == pid, OutboxMessage.subject == "project")
        ).scalars()
        assert "reminder.call_closing" in list(kinds)


def test_concept_review_counts_concept_reviews_everywhere(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    call_id = make_call(engine, people, now, workflow="concept")
    pid = make_project(engine, people, now, call_id=call_id, workflow="concept")
    with engine.begin() as conn:
        save_submission(
            conn, project_id=pid, form_key="concept_note", data={"filled": True}, actor=people["applicant"], submit=True
        )
    client.app.dependency_overrides[clock] = lambda: now  # type: ignore[attr-defined]
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/review/projects/{pid}")
    assert page.status_code == 200 and "/review/projects/" in page.text  # the submit button of the first state
    r = client.post(f"/review/projects/{pid}/submit", follow_redirects=False)
    assert r.status_code == 303, r.text[r.text.find('class="error"') :][:300]
    assert state_of(engine, pid) == "concept_review"  # submit_concept, asked of the table
    _assign(engine, people, now, pid, "expert2", "concept")
    with engine.begin() as conn:
        record_review(
            conn,
            project_id=pid,
            stage="concept",
            reviewer=people["expert2"],
            score=90,
            recommendation="support",
            comments="概要清楚",
            no_conflict_declared=True,
            now=now,
        )
    with engine.connect() as conn:
        assert load_facts(conn, "project", pid).reviews_submitted == 1
        assert len(reviews_for(conn, project_id=pid, stage="concept", actor=people["office"])) == 1
    login(client, "office@kw.example.cn")
    assert "概要清楚" in client.get(f"/review/projects/{pid}").text  # the desk shows the stage in force


def test_one_default_quorum(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now)
    with engine.begin() as conn:
        conn.execute(Project.__table__.update().where(Project.id == pid).values(call_id=None))
    with engine.connect() as conn:
        assert load_facts(conn, "project", pid).quorum == DEFAULT_QUORUM
        assert item(conn, pid).quorum == DEFAULT_QUORUM


# --- permissions decided once --------------------------------------------------------------------------


def test_resend_from_the_cli_is_the_office_s_decision_too(engine: Engine, people: People) -> None:
    refused = runner.invoke(cli, ["notifications", "resend", "1", "--as", "pi@jinghua.example.com"])
    assert refused.exit_code == 2 and "只有领导小组办公室可以重新发送邮件" in refused.output
    nothing = runner.invoke(cli, ["notifications", "resend", "1", "--as", "office@kw.example.cn"])
    assert nothing.exit_code == 1 and "no failed or uncertain delivery" in nothing.output


def test_docs_describe_every_state_and_attribute() -> None:
    """docs/lifecycle.md is the table in words: every state of every shipped workflow, every attribute."""
    from grantflow.states.attributes import ATTRIBUTE_KEYS
    from grantflow.states.permissions import PRESETS

    text = (ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    registry = registry_from_documents(read_documents(SHIPPED))
    missing = [s for wf in registry if wf.subject == "project" for s in wf.states if f"`{s}`" not in text]
    missing += [k for k in ATTRIBUTE_KEYS if f"`{k}`" not in text]
    missing += [p for p in PRESETS if f"`{p}`" not in text]
    assert missing == []
