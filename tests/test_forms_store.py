"""Forms stored through db.form_store on a real SQLite file: drafts as typed, submissions with their version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from grantflow.db.apply import fire
from grantflow.db.models import FormDraft, Submission
from grantflow.forms import FORMS, FormDefinition, Integer, LongText, Section
from grantflow.services.forms import load_form, project_submissions, render_submission, save_form
from grantflow.services.records import save_submission
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.text import Text
from tests.conftest import People
from tests.factories import make_project, state_of

pytestmark = pytest.mark.both_databases  # every test using `engine` runs on SQLite and on PostgreSQL


def proposal(partner_org: int) -> dict[str, Any]:
    return {
        "project_title": "工业机器人精密减速器研发",
        "category": "supported",
        "support_mode": "competitive",
        "expertise": ["robotics", "manufacturing"],
        "principal_investigator": "周工",
        "start_date": "2026-07-01",
        "end_date": "2028-06-30",
        "summary": "研制高精度 RV 减速器。",
        "objectives": "精度达到 1 弧分。",
        "approach": "齿形修形与装配工艺。",
        "expected_results": "企业标准 2 项，发明专利 5 项。",
        "partners": [{"organisation": str(partner_org), "contribution": "检测"}],
        "team": [{"name": "周工", "title": "高工", "role": "负责人", "months": "24", "organisation": ""}],
        "total_budget": "3,000,000.00",
        "requested_funding": "1000000",
        "budget": [
            {"source": "municipal_budget", "head": "equipment", "amount": "1000000"},
            {"source": "own_funds", "head": "materials", "amount": "2,000,000.00", "note": "自筹"},
        ],
        "attachments": [],
    }


def _submit(engine: Engine, people: People, pid: int, raw: dict, now: datetime, **kw):
    with engine.begin() as conn:
        return save_form(
            conn, project_id=pid, form_key=kw.pop("key", "proposal"), raw=raw, actor=people["applicant"], now=now, **kw
        )


def test_valid_proposal_is_stored_parsed_with_its_version_and_opens_the_gate(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    result = _submit(engine, people, pid, proposal(people["applicant2"].organisation_id), now, submit=True)
    assert result.ok and result.submitted, result.errors
    with engine.connect() as conn:
        row = conn.execute(select(Submission).where(Submission.id == result.submission_id)).one()
        assert conn.execute(select(FormDraft)).all() == []
    assert row.status == "submitted" and row.form_version == 1
    assert row.data["total_budget"] == "3000000.00" and row.data["team"][0]["months"] == 24
    fire(engine, subject_id=pid, trigger="submit", actor=people["applicant"], now=now)  # has_proposal passes
    assert state_of(engine, pid) == "submitted"


def test_rejected_submit_keeps_every_typed_value_and_the_previous_submission(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    good = proposal(people["applicant2"].organisation_id)
    first = _submit(engine, people, pid, good, now, submit=True)
    assert first.submitted
    bad = {**good, "total_budget": "三百万", "start_date": "明年", "budget": [{"source": "x", "amount": "-1"}]}
    result = _submit(engine, people, pid, bad, now, submit=True)
    assert not result.ok and not result.submitted
    keys = {e.key for e in result.errors}
    assert {"total_budget", "start_date", "budget[0].source", "budget[0].head", "budget[0].amount"} <= keys
    with engine.connect() as conn:
        state = load_form(conn, project_id=pid, form_key="proposal", actor=people["applicant"])
        sub = conn.execute(select(Submission.data, Submission.status)).one()
    assert state.status == "submitted_editing"
    assert state.values["total_budget"] == "三百万" and state.values["start_date"] == "明年"
    assert state.values["budget"] == [{"source": "x", "amount": "-1"}]
    assert {e.key for e in state.errors} == keys  # the errors come back with the draft
    assert sub.status == "submitted" and sub.data["total_budget"] == "3000000.00"  # untouched


def test_drafts_save_invalid_and_only_submitting_checks(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now)
    result = _submit(engine, people, pid, {"project_title": "半成品", "total_budget": "很多"}, now, submit=False)
    assert result.ok and not result.submitted and result.draft_id
    with engine.connect() as conn:
        state = load_form(conn, project_id=pid, form_key="proposal", actor=people["applicant"])
        assert conn.execute(select(Submission)).all() == []
    assert state.status == "draft" and state.values["total_budget"] == "很多" and state.errors == []


def test_only_the_undertaking_unit_fills_and_only_viewers_read(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now)
    with engine.begin() as conn, pytest.raises(NotFound):
        save_form(conn, project_id=pid, form_key="proposal", raw={}, actor=people["applicant2"], submit=False)
    with engine.begin() as conn, pytest.raises(Forbidden):
        save_form(conn, project_id=pid, form_key="proposal", raw={}, actor=people["office"], submit=False)
    with engine.connect() as conn, pytest.raises(NotFound):
        load_form(conn, project_id=pid, form_key="proposal", actor=people["applicant2"])
    with engine.connect() as conn:
        assert load_form(conn, project_id=pid, form_key="proposal", actor=people["office"]).status == "new"


def test_annual_report_is_filed_per_year_and_its_year_must_match(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now, state="post_evaluation")  # where the table unlocks the report
    raw = {
        "revenue": "1000000",
        "standards_adopted": "1",
        "patents_granted": "2",
        "jobs": "30",
        "industrialisation": "量产",
    }
    with pytest.raises(PayloadInvalid):
        _submit(engine, people, pid, raw, now, key="post_evaluation_report", submit=True)
    wrong = _submit(
        engine, people, pid, {**raw, "year": "2025"}, now, key="post_evaluation_report", submit=True, period=2026
    )
    assert [e.code for e in wrong.errors] == ["period_mismatch"]
    assert "2026" in wrong.errors[0].message.zh and "2026" in wrong.errors[0].message.en
    ok = _submit(engine, people, pid, {**raw, "year": ""}, now, key="post_evaluation_report", submit=True, period=2027)
    assert ok.submitted
    with engine.connect() as conn:
        periods = conn.execute(select(Submission.period).where(Submission.form_key == "post_evaluation_report")).all()
    assert [p.period for p in periods] == [2027]


def test_old_submission_still_renders_after_its_form_gains_and_loses_fields(
    engine: Engine, people: People, now: datetime
) -> None:
    registry = FORMS.copy()
    base = registry.get("concept_note")
    v1_fields = tuple(base.fields)
    kept = [f for f in v1_fields if f.name != "idea"]  # v2 loses "idea" ...
    v2 = FormDefinition(
        key="concept_note",
        version=2,
        title=base.title,
        sections=(
            Section(
                Text("项目设想", "The idea"),
                (
                    *kept,
                    # ... and gains two fields, one of them required
                    LongText(name="market", label=Text("市场前景", "Market prospects"), required=True),
                    Integer(name="jobs", label=Text("预计就业", "Jobs expected")),
                ),
            ),
        ),
    )
    pid = make_project(engine, people, now, workflow="concept")  # a concept note is edited in its first state
    v1_raw = {
        "project_title": "旧版建议书",
        "expertise": ["robotics"],
        "idea": "只有 v1 才有的设想",
        "expected_results": "样机",
        "estimated_funding": "500000",
    }
    with engine.begin() as conn:
        first = save_form(
            conn, project_id=pid, form_key="concept_note", raw=v1_raw, actor=people["applicant"], submit=True, now=now
        )
    assert first.submitted and first.form_version == 1
    registry.register(v2)
    with engine.connect() as conn:
        html = str(
            render_submission(
                conn, submission_id=first.submission_id, actor=people["office"], lang="zh", registry=registry
            )
        )
        [sub] = project_submissions(conn, project_id=pid, actor=people["office"], registry=registry)
        state = load_form(conn, project_id=pid, form_key="concept_note", actor=people["applicant"], registry=registry)
    assert "只有 v1 才有的设想" in html and "表单版本 1" in html and "市场前景" not in html
    assert sub.form.version == 1 and state.form.version == 1  # shown with its own version
    # a new edit uses v2: the removed field is no longer asked for, the new required one is
    with engine.begin() as conn:
        again = save_form(
            conn,
            project_id=pid,
            form_key="concept_note",
            raw={**v1_raw, "jobs": "十"},
            actor=people["applicant"],
            submit=True,
            now=now,
            registry=registry,
        )
    assert again.form_version == 2 and {(e.key, e.code) for e in again.errors} == {
        ("market", "required"),
        ("jobs", "integer_format"),
    }
    with engine.connect() as conn:
        html_en = str(
            render_submission(
                conn, submission_id=first.submission_id, actor=people["office"], lang="en", registry=registry
            )
        )
    assert "form version 1" in html_en and "Market prospects" not in html_en  # the submission is still v1


def test_submissions_written_by_older_callers_still_render(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now)
    with engine.begin() as conn:
        sid = save_submission(
            conn, project_id=pid, form_key="proposal", data={"filled": True}, actor=people["applicant"], submit=True
        )
        html = str(render_submission(conn, submission_id=sid, actor=people["office"], lang="en"))
    assert "Project proposal" in html and "filled" in html and "True" in html


def test_a_version_missing_from_the_registry_still_shows_stored_values(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    with engine.begin() as conn:
        sid = save_submission(
            conn,
            project_id=pid,
            form_key="proposal",
            data={"project_title": "来自未来版本"},
            actor=people["applicant"],
            submit=True,
            form_version=99,
        )
        html = str(render_submission(conn, submission_id=sid, actor=people["office"], lang="zh"))
    assert "来自未来版本" in html
