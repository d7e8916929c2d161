"""Partners typed in the proposal reach the conflict-of-interest check.

The applicant types collaborating units into the proposal's page; submitting it records them as
the project's partners (replacing the previous set on resubmission, audited), and a reviewer
from a partner is then never assigned, automatically or by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from grantflow.db.apply import fire
from grantflow.db.models import AuditEvent, ProjectPartner
from grantflow.services.calls import new_project
from grantflow.services.eligibility import submit
from grantflow.services.forms import save_form
from grantflow.services.review import assign, assignments_for, auto_assign
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import Forbidden
from grantflow.states.review_rules import CONFLICT_PARTNER
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import state_of
from tests.test_forms_store import proposal
from tests.test_forms_web import as_pairs
from tests.test_review_helpers import call, panel
from tests.web import WebClient


@pytest.fixture
def client(engine: Engine, now: datetime) -> Iterator[TestClient]:
    web = create_app()
    web.dependency_overrides[clock] = lambda: now
    yield WebClient(web)
    web.dependency_overrides.clear()


def _login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def _typed_proposal(client: TestClient, pid: int, partner_org: int) -> None:
    """The applicant fills the proposal's page, naming one collaborating unit, and submits it."""
    posted = as_pairs(proposal(partner_org))
    posted["action"] = ["submit"]
    r = client.post(f"/projects/{pid}/forms/proposal", data=posted, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "saved=submitted" in r.headers["location"]


def _partners(engine: Engine, pid: int) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(select(ProjectPartner.organisation_id).where(ProjectPartner.project_id == pid)).scalars()
        )


def _partner_events(engine: Engine, pid: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEvent.payload)
                .where(AuditEvent.subject_id == pid, AuditEvent.action == "partners:proposal")
                .order_by(AuditEvent.id)
            ).scalars()
        )


def test_a_reviewer_from_a_partner_typed_in_the_proposal_is_never_assigned(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, quorum=2)
    with engine.begin() as conn:
        pid = new_project(conn, call_id=call_id, actor=people["applicant"], title="精密减速器", now=now)
    partner = people["expert3"].organisation_id  # 清源: expert3's centre collaborates on the project
    _login(client, "pi@jinghua.example.com")
    _typed_proposal(client, pid, partner)
    assert _partners(engine, pid) == {partner}
    assert _partner_events(engine, pid) == [{"form": "proposal", "version": 1, "partners": [partner], "previous": []}]

    submit(engine, project_id=pid, actor=people["applicant"], now=now)
    fire(engine, subject_id=pid, trigger="accept_formal", actor=people["office"], now=now)
    panel(engine, people, now, call_id)  # experts 1–4; expert4 works for the applicant itself

    # by hand: refused with the conflict named, in the API and in the service alike
    _login(client, "office@kw.example.cn")
    by_hand = client.post(
        f"/api/review/calls/{call_id}/assign",
        json={"project_ids": [pid], "reviewer_id": people["expert3"].user_id},
        headers={"accept-language": "en"},
    ).json()
    assert by_hand[0]["ok"] is False and CONFLICT_PARTNER.zh in str(by_hand)
    with engine.begin() as conn, pytest.raises(Forbidden) as info:
        assign(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer_id=people["expert3"].user_id,
            actor=people["office"],
            now=now,
        )
    assert CONFLICT_PARTNER in info.value.reasons
    assert "the reviewer belongs to a collaborating unit" in info.value.text("en")

    # automatically: the panel's conflict-free members only
    with engine.begin() as conn:
        chosen = auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    assert sorted(chosen) == sorted([people["expert1"].user_id, people["expert2"].user_id])
    with engine.connect() as conn:
        given = {a.reviewer_id for a in assignments_for(conn, project_id=pid, stage="proposal", actor=people["office"])}
    assert people["expert3"].user_id not in given and people["expert4"].user_id not in given


def test_resubmitting_the_proposal_replaces_the_partners(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, quorum=1)
    with engine.begin() as conn:
        pid = new_project(conn, call_id=call_id, actor=people["applicant"], title="精密减速器", now=now)
    first, second = people["expert3"].organisation_id, people["expert1"].organisation_id
    _login(client, "pi@jinghua.example.com")
    _typed_proposal(client, pid, first)
    submit(engine, project_id=pid, actor=people["applicant"], now=now)
    fire(
        engine,
        subject_id=pid,
        trigger="return_for_correction",
        actor=people["office"],
        payload={"reason": "合作单位有误"},
        now=now,
    )
    _typed_proposal(client, pid, second)
    assert _partners(engine, pid) == {second}
    assert [e["partners"] for e in _partner_events(engine, pid)] == [[first], [second]]
    assert _partner_events(engine, pid)[1]["previous"] == [first]
    # submitting the same partners again changes nothing and records nothing new
    with engine.begin() as conn:
        save_form(
            conn,
            project_id=pid,
            form_key="proposal",
            raw=proposal(second),
            actor=people["applicant"],
            submit=True,
            now=now,
        )
    assert len(_partner_events(engine, pid)) == 2

    submit(engine, project_id=pid, actor=people["applicant"], trigger="resubmit", now=now)
    fire(engine, subject_id=pid, trigger="accept_formal", actor=people["office"], now=now)
    panel(engine, people, now, call_id)
    assert state_of(engine, pid) == "under_review"
    with engine.begin() as conn, pytest.raises(Forbidden, match="collaborating unit"):
        assign(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer_id=people["expert1"].user_id,
            actor=people["office"],
            now=now,
        )
    with engine.begin() as conn:  # the unit dropped from the proposal is no longer a partner
        assign(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer_id=people["expert3"].user_id,
            actor=people["office"],
            now=now,
        )


def test_the_applicants_own_unit_and_unknown_ids_are_not_partners(
    engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now)
    with engine.begin() as conn:
        pid = new_project(conn, call_id=call_id, actor=people["applicant"], title="精密减速器", now=now)
        raw = proposal(people["applicant2"].organisation_id)
        raw["team"] = [
            {"name": "周工", "title": "高工", "role": "负责人", "months": "24", "organisation": ""},
            {"name": "李工", "role": "测试", "months": "6", "organisation": str(people["applicant"].organisation_id)},
            {"name": "王工", "role": "检测", "months": "6", "organisation": str(people["applicant3"].organisation_id)},
        ]
        result = save_form(
            conn, project_id=pid, form_key="proposal", raw=raw, actor=people["applicant"], submit=True, now=now
        )
        assert result.submitted, result.errors
    # a team member's unit takes part too; the applicant's own unit is no partner of itself
    assert _partners(engine, pid) == {people["applicant2"].organisation_id, people["applicant3"].organisation_id}
