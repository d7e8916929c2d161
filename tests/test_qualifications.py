"""Qualifications the office grants and revokes: through the CLI, the page, and into eligibility.

The ``qualifications`` eligibility rule passes only while a granted qualification counts:
granted, started, not expired, not revoked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from grantflow.cli import admin_cmd
from grantflow.cli.main import app as cli
from grantflow.db.models import AuditEvent, OrganisationQualification
from grantflow.services.eligibility import Ineligible, check, submit
from grantflow.services.qualifications import QualificationInvalid, grant, qualifications_of, revoke
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import Forbidden, NotFound
from grantflow.states.qualifications import Standing
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import state_of
from tests.test_review_helpers import call, draft
from tests.web import WebClient

runner = CliRunner()
OFFICE = "office@kw.example.cn"
APPLICANT = "pi@jinghua.example.com"
JINGHUA = "京华智造科技有限公司"


def squeeze(text: str) -> str:
    """The CLI's text without the line breaks and spaces the terminal width put in."""
    return re.sub(r"\s+", "", text)


def _events(engine: Engine, org_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEvent.action)
                .where(AuditEvent.subject == "organisation", AuditEvent.subject_id == org_id)
                .order_by(AuditEvent.id)
            ).scalars()
        )


# --- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that table cells are not folded across lines."""
    monkeypatch.setattr(admin_cmd.console, "width", 200)


def test_office_grants_lists_and_revokes_through_the_cli(engine: Engine, people: People, wide: None) -> None:
    org = people["applicant"].organisation_id
    granted = runner.invoke(
        cli,
        [
            "orgs",
            "qualify",
            JINGHUA,
            "high_tech_enterprise",
            "--until",
            "2099-12-31",
            "--note",
            "GR2099",
            "--as",
            OFFICE,
        ],
    )
    assert granted.exit_code == 0, granted.output
    assert "2099-12-31" in granted.output
    listed = runner.invoke(cli, ["orgs", "qualifications", str(org), "--as", OFFICE, "--lang", "en"])
    assert listed.exit_code == 0, listed.output
    flat = squeeze(listed.output)
    assert "high_tech_enterprise" in flat and "2099-12-31" in flat and "valid" in flat and "GR2099" in flat

    revoked = runner.invoke(
        cli, ["orgs", "unqualify", str(org), "high_tech_enterprise", "--reason", "证书被撤销", "--as", OFFICE]
    )
    assert revoked.exit_code == 0, revoked.output
    listed = runner.invoke(cli, ["orgs", "qualifications", str(org), "--as", OFFICE, "--lang", "en"])
    assert "revoked" in squeeze(listed.output) and "证书被撤销" in squeeze(listed.output)
    assert _events(engine, org) == [
        "qualification_granted:high_tech_enterprise",
        "qualification_revoked:high_tech_enterprise",
    ]
    with engine.connect() as conn:
        (row,) = conn.execute(select(OrganisationQualification).where(OrganisationQualification.organisation_id == org))
    assert row.revoked_by == people["office"].user_id and row.note == "GR2099"


def test_the_cli_refuses_anyone_but_the_office_and_bad_grants_in_the_users_language(
    engine: Engine, people: People
) -> None:
    org = str(people["applicant"].organisation_id)
    own = runner.invoke(cli, ["orgs", "qualify", org, "gmp", "--as", APPLICANT, "--lang", "en"])
    assert own.exit_code == 2
    assert "only the office may grant or revoke a unit's qualifications" in " ".join(own.output.split())
    zh = runner.invoke(cli, ["orgs", "unqualify", org, "gmp", "--as", APPLICANT])
    assert zh.exit_code == 2 and "只有领导小组办公室可以登记或撤销单位资质" in squeeze(zh.output)
    bad = runner.invoke(
        cli,
        [
            "orgs",
            "qualify",
            org,
            "gmpp",
            "--from",
            "2099-02-01",
            "--until",
            "2099-01-01",
            "--lang",
            "en",
            "--as",
            OFFICE,
        ],
    )
    assert bad.exit_code == 2
    flat = " ".join(bad.output.split())
    assert "unknown qualification code 'gmpp'" in flat and "is before the first" in flat
    assert "gmp (GMP certification)" in flat  # says what would have been accepted
    nothing = runner.invoke(cli, ["orgs", "unqualify", org, "gmp", "--as", OFFICE, "--lang", "en"])
    assert nothing.exit_code == 2 and "holds no qualification" in " ".join(nothing.output.split())
    assert _events(engine, int(org)) == []


# --- the page --------------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, now: datetime) -> Iterator[TestClient]:
    web = create_app()
    web.dependency_overrides[clock] = lambda: now
    yield WebClient(web)
    web.dependency_overrides.clear()


def _login(client: TestClient, email: str, lang: str = "zh") -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    client.get(f"/lang/{lang}", follow_redirects=False)


def test_the_office_page_grants_renews_and_revokes(client: TestClient, engine: Engine, people: People) -> None:
    org = people["applicant"].organisation_id
    _login(client, OFFICE)
    units = client.get("/orgs")
    assert units.status_code == 200 and f"/orgs/{org}/qualifications" in units.text
    page = client.get(f"/orgs/{org}/qualifications")
    assert page.status_code == 200 and "尚未登记任何资质" in page.text and "登记或续期资质" in page.text
    done = client.post(
        f"/orgs/{org}/qualifications",
        data={"code": "iso9001", "valid_from": "2026-01-01", "valid_until": "2028-12-31", "note": "证书 Q-7"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(f"/orgs/{org}/qualifications")
    assert "ISO 9001" in page.text and "2028-12-31" in page.text and "证书 Q-7" in page.text and "有效" in page.text
    # renewing updates the one row and is audited again
    client.post(f"/orgs/{org}/qualifications", data={"code": "iso9001", "valid_until": "2030-06-30"})
    api = client.get(f"/api/orgs/{org}/qualifications").json()
    assert [(q["code"], q["valid_until"], q["counts"]) for q in api["qualifications"]] == [
        ("iso9001", "2030-06-30", True)
    ]
    gone = client.post(f"/orgs/{org}/qualifications/iso9001/revoke", data={"reason": "到期未年审"})
    assert gone.status_code == 200  # followed the redirect back to the page
    assert "已撤销" in gone.text and "到期未年审" in gone.text
    assert client.get(f"/api/orgs/{org}/qualifications").json()["qualifications"][0]["standing"] == "revoked"
    assert _events(engine, org) == [
        "qualification_granted:iso9001",
        "qualification_granted:iso9001",
        "qualification_revoked:iso9001",
    ]


def test_a_refused_grant_keeps_what_was_typed_and_says_why_in_english(
    client: TestClient, engine: Engine, people: People
) -> None:
    org = people["applicant"].organisation_id
    _login(client, OFFICE, "en")
    refused = client.post(
        f"/orgs/{org}/qualifications",
        data={"code": "gmp", "valid_from": "2027-05-01", "valid_until": "31/12/2026", "note": "cert 42"},
    )
    assert refused.status_code == 422
    assert "The qualification was not recorded" in refused.text and "is not a date" in refused.text
    assert 'value="2027-05-01"' in refused.text and 'value="31/12/2026"' in refused.text
    assert 'value="cert 42"' in refused.text and '<option value="gmp" selected' in refused.text
    assert _events(engine, org) == []


def test_the_page_refuses_as_the_cli_does(client: TestClient, engine: Engine, people: People) -> None:
    org = people["applicant"].organisation_id
    _login(client, APPLICANT, "en")
    own = client.get(f"/orgs/{org}/qualifications")
    assert own.status_code == 200 and "Record or renew" not in own.text  # may see, may not change
    refused = client.post(f"/orgs/{org}/qualifications", data={"code": "gmp"})
    assert refused.status_code == 403
    assert "only the office may grant or revoke a unit&#39;s qualifications" in refused.text  # as the CLI says
    assert client.post(f"/orgs/{org}/qualifications/gmp/revoke").status_code == 403
    other = people["applicant2"].organisation_id
    assert client.get(f"/orgs/{other}/qualifications").status_code == 403
    assert client.get(f"/api/orgs/{other}/qualifications").status_code == 403
    assert f"/orgs/{other}/" not in client.get("/orgs").text
    assert _events(engine, org) == []


# --- into eligibility ------------------------------------------------------------------------------


def test_the_qualifications_rule_passes_after_a_grant_and_fails_after_revoking_or_expiry(
    engine: Engine, people: People, now: datetime
) -> None:
    office = people["office"]
    org = people["applicant"].organisation_id
    call_id = call(engine, people, now, eligibility={"qualifications": ["high_tech_enterprise"]}, per_unit=3)
    first = draft(engine, people, now, call_id, "applicant")
    with engine.connect() as conn:
        (reason,) = check(conn, project_id=first, now=now)
    assert "high-tech enterprise" in reason.en

    last_day = (now + timedelta(days=30)).date()
    with engine.begin() as conn:
        grant(conn, organisation_id=org, code="high_tech_enterprise", valid_until=last_day, actor=office, now=now)
    with engine.connect() as conn:
        assert check(conn, project_id=first, now=now) == []
        # counts to the end of its last day (Beijing time), not a moment longer
        end_of_day = datetime(last_day.year, last_day.month, last_day.day, 15, 59, 59, tzinfo=UTC)
        assert check(conn, project_id=first, now=end_of_day) == []
        (expired,) = check(conn, project_id=first, now=end_of_day + timedelta(seconds=1))
    assert "missing valid qualifications" in expired.en
    assert submit(engine, project_id=first, actor=people["applicant"], now=now).to_state == "submitted"

    second = draft(engine, people, now, call_id, "applicant")
    with engine.begin() as conn:
        revoke(conn, organisation_id=org, code="high_tech_enterprise", reason="复核不合格", actor=office, now=now)
    with pytest.raises(Ineligible) as info:
        submit(engine, project_id=second, actor=people["applicant"], now=now)
    assert "缺少有效资质：高新技术企业" in info.value.text("zh")
    assert state_of(engine, second) == "draft"

    # granted again, but only from a later day: not yet
    with engine.begin() as conn:
        grant(
            conn,
            organisation_id=org,
            code="high_tech_enterprise",
            valid_from=(now + timedelta(days=3)).date(),
            actor=office,
            now=now,
        )
        rows = qualifications_of(conn, organisation_id=org, actor=office, now=now)
    assert [r.standing for r in rows] == [Standing.NOT_YET]
    with pytest.raises(Ineligible):
        submit(engine, project_id=second, actor=people["applicant"], now=now)
    later = now + timedelta(days=4)
    assert submit(engine, project_id=second, actor=people["applicant"], now=later).to_state == "submitted"


def test_grants_are_checked_before_anything_is_written(engine: Engine, people: People, now: datetime) -> None:
    org = people["applicant"].organisation_id
    with engine.begin() as conn, pytest.raises(QualificationInvalid) as info:
        grant(
            conn,
            organisation_id=org,
            code="gmp",
            valid_until=date(2026, 3, 1),
            note="x" * 501,
            actor=people["office"],
            now=now,
        )
    assert len(info.value.problems) == 2 and "has passed" in info.value.text("en")
    with engine.begin() as conn, pytest.raises(Forbidden):
        grant(conn, organisation_id=org, code="gmp", actor=people["organiser"], now=now)
    with engine.begin() as conn, pytest.raises(NotFound, match="does not exist"):
        grant(conn, organisation_id=9999, code="gmp", actor=people["office"], now=now)
    assert _events(engine, org) == []
