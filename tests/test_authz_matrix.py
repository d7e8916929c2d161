"""Who may use which route: every page and API operation × every role (and a signed-out visitor).

The table below is checked against the app's own route list, so a route added without an entry
fails ``test_every_route_has_an_entry``; extend ``MATRIX`` (and ``BODIES`` for a new request body)
when adding routes.

Outcomes, as a person would meet them:

- ``ok``: let through to the operation (which may still refuse for the state or the input: 2xx,
  3xx other than to the sign-in page, 409, 422);
- ``no``: refused for who they are, or told the thing does not exist (403, 404, or a batch whose
  every item was refused);
- ``in``: asked to sign in first (401, or a redirect to /login).

The world: a call of programme 7 (organised by ``organiser``'s department), a draft project of
``applicant``'s unit in it with its proposal submitted and one attachment.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine

from grantflow.services import adjustments
from grantflow.services.files import store_attachment
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import make_project
from tests.test_attachments import PDF
from tests.test_review_helpers import call, draft, panel
from tests.web import WebClient

ROLES = (
    "anonymous",
    "applicant",  # the project's own unit
    "applicant3",  # another unit
    "expert1",  # a reviewer, not assigned to the project
    "organiser",  # the programme's organising unit
    "other_organiser",  # another department
    "office",
    "leader",
    "evaluator",
)

# outcome per role, in the order of ROLES
EVERYONE = "ok ok ok ok ok ok ok ok ok"
SIGNED_IN = "in ok ok ok ok ok ok ok ok"
# may see the project: its unit, its programme's organiser, the office and the leadership group
PROJECT = "in ok no no ok no ok ok no"
# manages the call: the programme's organiser and the office
MANAGER = "in no no no ok no ok no no"
OFFICE = "in no no no no no ok no no"
NOBODY_SIGNED_IN = "in no no no no no no no no"
# applicants (their own appeals) and the office (all of them)
COMPLAINTS = "in ok ok no no no ok no no"
# only the project's own unit acts on it (applying, appealing, bidding)
OWN_UNIT = "in ok no no no no no no no"
# keeps a call desk: the office and every organising unit (each sees the calls of its own programmes)
CALL_DESK = "in no no no ok ok ok no no"
# programme-wide figures: the office and the leadership group
OVERVIEW = "in no no no no no ok ok no"
# a unit's qualifications: the unit itself, organising units (they write eligibility rules), the office
QUALIFICATIONS = "in ok no no ok ok ok no no"
# nothing there, for anyone, signed in or not
NOTHING = "no no no no no no no no no"

MATRIX: dict[tuple[str, str], str] = {
    # public
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): EVERYONE,
    ("GET", "/lang/{code}"): EVERYONE,
    ("GET", "/needs"): EVERYONE,
    ("POST", "/needs"): EVERYONE,
    ("GET", "/api/forms/{key}"): EVERYONE,
    ("GET", "/api/session"): EVERYONE,
    # every signed-in person: their own list, inbox, account
    ("GET", "/"): SIGNED_IN,
    ("POST", "/logout"): "in in in in in in in in in",  # everyone ends at the sign-in page
    ("GET", "/account/password"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("GET", "/api/projects"): SIGNED_IN,
    ("GET", "/inbox"): SIGNED_IN,
    ("GET", "/api/inbox"): SIGNED_IN,
    ("POST", "/inbox/read"): SIGNED_IN,
    ("POST", "/inbox/preferences"): SIGNED_IN,
    ("GET", "/review/mine"): SIGNED_IN,
    ("GET", "/review/complaints"): COMPLAINTS,
    ("GET", "/api/review/complaints"): COMPLAINTS,
    # the project, its forms and files
    ("GET", "/projects/{project_id}"): PROJECT,
    ("GET", "/api/projects/{project_id}"): PROJECT,
    ("GET", "/projects/{project_id}/forms"): PROJECT,
    ("GET", "/projects/{project_id}/forms/{key}"): PROJECT,
    ("GET", "/api/projects/{project_id}/forms/{key}"): PROJECT,
    ("GET", "/submissions/{submission_id}"): PROJECT,
    ("GET", "/attachments/{attachment_id}"): PROJECT,
    ("GET", "/review/projects/{project_id}"): PROJECT,
    ("GET", "/api/review/projects/{project_id}/eligibility"): PROJECT,
    ("GET", "/api/review/projects/{project_id}/reviews"): PROJECT,
    ("POST", "/projects/{project_id}/forms/{key}"): OWN_UNIT,
    ("POST", "/api/projects/{project_id}/forms/{key}"): OWN_UNIT,
    ("POST", "/projects/{project_id}/fire"): OWN_UNIT,
    ("POST", "/api/projects/{project_id}/triggers/{trigger}"): OWN_UNIT,
    ("POST", "/review/projects/{project_id}/submit"): OWN_UNIT,
    ("POST", "/api/review/projects/{project_id}/submit"): OWN_UNIT,
    ("POST", "/review/projects/{project_id}/complaints"): OWN_UNIT,
    ("POST", "/api/review/projects/{project_id}/complaints"): OWN_UNIT,
    # bids: the call is not a tender, so there is nothing to bid on or read, for anyone
    ("POST", "/review/projects/{project_id}/bid"): NOBODY_SIGNED_IN,
    ("POST", "/api/review/projects/{project_id}/bid"): NOBODY_SIGNED_IN,
    ("GET", "/api/review/projects/{project_id}/bid"): NOBODY_SIGNED_IN,
    # the reviewer's desk for an item (nobody here is assigned to it)
    ("GET", "/review/projects/{project_id}/{stage}"): NOBODY_SIGNED_IN,
    ("POST", "/review/projects/{project_id}/{stage}"): NOBODY_SIGNED_IN,
    ("POST", "/api/review/projects/{project_id}/reviews"): NOBODY_SIGNED_IN,
    ("POST", "/api/review/projects/{project_id}/conflict"): NOBODY_SIGNED_IN,
    # the call's review desk
    ("GET", "/review/calls/{call_id}"): MANAGER,
    ("GET", "/api/review/calls/{call_id}/ranking"): MANAGER,
    ("POST", "/review/calls/{call_id}/assign"): MANAGER,
    ("POST", "/api/review/calls/{call_id}/assign"): MANAGER,
    ("POST", "/review/calls/{call_id}/decide"): MANAGER,
    ("POST", "/api/review/decisions"): MANAGER,
    ("GET", "/review/calls/{call_id}/bids"): NOBODY_SIGNED_IN,  # not a tender
    ("GET", "/review/calls/{call_id}/bids.csv"): NOBODY_SIGNED_IN,
    ("GET", "/api/review/calls/{call_id}/bids"): NOBODY_SIGNED_IN,
    ("POST", "/review/calls/{call_id}/bids/open"): NOBODY_SIGNED_IN,
    ("POST", "/api/review/calls/{call_id}/bids/open"): NOBODY_SIGNED_IN,
    # the call desk: calls listed, drafted, moved through their table; the panel and assignment
    ("GET", "/office/calls"): CALL_DESK,
    ("GET", "/office/calls/new"): CALL_DESK,
    ("POST", "/office/calls/new"): CALL_DESK,  # the form, refused for its content (422)
    ("GET", "/office/calls/{call_id}"): MANAGER,
    ("POST", "/office/calls/{call_id}/fire"): MANAGER,  # then refused for the call's state
    ("GET", "/review/calls/{call_id}/panel"): MANAGER,
    ("POST", "/review/calls/{call_id}/panel"): MANAGER,
    ("POST", "/review/calls/{call_id}/panel/assign"): MANAGER,
    # the office's desks
    # no complaint with that id: the office is told so, everyone else is refused
    ("POST", "/review/complaints/{complaint_id}/answer"): NOBODY_SIGNED_IN,
    ("POST", "/api/review/complaints/{complaint_id}/answer"): NOBODY_SIGNED_IN,
    ("POST", "/inbox/deliveries/{delivery_id}/resend"): OFFICE,
    # dynamic adjustment: a request is seen as its project is, edited and sent by the side that
    # started it, decided by the organiser, the office or the leadership group as its table says
    ("GET", "/adjustments"): SIGNED_IN,  # each sees their own queue
    ("GET", "/api/adjustments"): SIGNED_IN,
    ("GET", "/projects/{project_id}/adjustments"): PROJECT,
    ("GET", "/adjustments/{adjustment_id}"): PROJECT,
    ("GET", "/api/adjustments/{adjustment_id}"): PROJECT,
    ("POST", "/projects/{project_id}/adjustments"): "in ok no no no no ok no no",
    ("POST", "/api/projects/{project_id}/adjustments"): "in ok no no no no ok no no",
    ("POST", "/adjustments/{adjustment_id}"): OWN_UNIT,
    ("POST", "/api/adjustments/{adjustment_id}/submit"): OWN_UNIT,
    ("POST", "/adjustments/{adjustment_id}/fire"): PROJECT,  # then refused for the request's state
    ("POST", "/api/adjustments/{adjustment_id}/actions/{action}"): PROJECT,
    # programmes: everyone signed in reads them; the leadership group launches one
    ("GET", "/programmes"): SIGNED_IN,
    ("GET", "/programmes/{code}"): SIGNED_IN,
    ("POST", "/programmes/{code}/fire"): "in no no no no no no ok no",  # launching: the leadership group
    # organisations and their qualifications
    ("GET", "/orgs"): SIGNED_IN,
    ("GET", "/api/orgs/search"): SIGNED_IN,  # names for a form's organisation fields
    ("GET", "/orgs/{org_id}/qualifications"): QUALIFICATIONS,
    ("GET", "/api/orgs/{org_id}/qualifications"): QUALIFICATIONS,
    ("POST", "/orgs/{org_id}/qualifications"): OFFICE,
    ("POST", "/orgs"): OFFICE,  # registering an organisation
    # people and their accounts: the office
    ("GET", "/office/people"): OFFICE,
    ("POST", "/office/people"): OFFICE,
    ("POST", "/office/people/{user_id}/active"): NOBODY_SIGNED_IN,  # no such person: the office is told so
    ("POST", "/orgs/{org_id}/qualifications/{code}/revoke"): NOBODY_SIGNED_IN,  # none granted
    # the office's overview and its exports
    ("GET", "/office/overview"): OVERVIEW,
    ("GET", "/api/office/overview"): OVERVIEW,
    ("GET", "/office/overview/{name}.{fmt}"): OVERVIEW,
    # publication: public reading, the office publishes
    ("GET", "/publications"): EVERYONE,
    ("GET", "/publications/feed.atom"): EVERYONE,
    ("GET", "/publications/manifest.json"): EVERYONE,
    ("GET", "/publications/files/{name:path}"): NOTHING,  # only published names are served
    ("GET", "/office/publications"): OFFICE,
    ("POST", "/office/publications/publish"): OFFICE,
    ("POST", "/office/publications/{publication_id}/override"): NOBODY_SIGNED_IN,  # none exists
    # calls taking applications: public reading; applicants start an application (the project's
    # unit already has its one draft in the call: refused for the call's limit, 422, not for who
    # it is; another unit's applicant starts one)
    ("GET", "/calls"): EVERYONE,
    ("GET", "/calls/{call_id}"): EVERYONE,
    ("POST", "/calls/{call_id}/apply"): "in ok ok no no no no no no",
    # the project's lifecycle drawing is seen as the project is
    ("GET", "/projects/{project_id}/lifecycle.svg"): PROJECT,
    # the account page and its calendar address; the feed itself needs its token, not a sign-in
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/calendar"): SIGNED_IN,
    ("GET", "/calendar/{token}.ics"): NOTHING,  # a token nobody was given
}


def app_routes(app: Any) -> list[tuple[str, str]]:
    return sorted(
        (method, str(ctx.path))
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
        for method in ctx.methods or ()
        if method != "HEAD"
    )


def test_every_route_has_an_entry(engine: Engine) -> None:
    routes = set(app_routes(create_app()))
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an authorisation entry in tests/test_authz_matrix.py: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"entries for routes that no longer exist: {stale}"
    for key, row in MATRIX.items():
        assert len(row.split()) == len(ROLES) and set(row.split()) <= {"ok", "no", "in"}, key


def _bodies(ids: dict[str, Any], role: str) -> dict[tuple[str, str], dict[str, Any]]:
    reviewed = ids["reviewed_id"]
    email = People.SHORT.get(role, "office@kw.example.cn")
    return {
        ("POST", "/login"): {"data": {"email": email, "password": DEMO_PASSWORD}},
        ("POST", "/account/password"): {"data": {"current": "wrong", "new": "x", "repeat": "y"}},
        ("POST", "/api/projects/{project_id}/forms/{key}"): {"json": {"data": {}, "submit": False}},
        ("POST", "/api/projects/{project_id}/triggers/{trigger}"): {"json": {}},
        ("POST", "/api/review/calls/{call_id}/assign"): {"json": {"project_ids": [reviewed], "stage": "proposal"}},
        ("POST", "/api/review/complaints/{complaint_id}/answer"): {"json": {"answer": "x"}},
        ("POST", "/api/review/decisions"): {
            "json": {"decisions": [{"project_id": reviewed, "trigger": "reject", "reason": "x"}]}
        },
        ("POST", "/api/review/projects/{project_id}/bid"): {"json": {"content": "x"}},
        ("POST", "/api/review/projects/{project_id}/complaints"): {"json": {"grounds": "x"}},
        ("POST", "/api/review/projects/{project_id}/conflict"): {"json": {"statement": "x"}},
        ("POST", "/api/review/projects/{project_id}/reviews"): {
            "json": {"scores": {}, "recommendation": "fund", "comments": "x", "no_conflict": True}
        },
        ("POST", "/projects/{project_id}/fire"): {"data": {"trigger": "withdraw"}},
        ("POST", "/projects/{project_id}/forms/{key}"): {"data": {"action": "save"}},
        ("POST", "/review/calls/{call_id}/assign"): {"data": {"project": str(reviewed)}},
        ("POST", "/review/calls/{call_id}/decide"): {"data": {"reject": str(reviewed), "reason": "x"}},
        ("POST", "/office/calls/new"): {"data": {"title": "x"}},
        ("POST", "/office/calls/{call_id}/fire"): {"data": {"trigger": "publish"}},
        ("POST", "/review/calls/{call_id}/panel"): {"data": {"stage": "proposal"}},
        ("POST", "/review/calls/{call_id}/panel/assign"): {"data": {"project": str(reviewed), "stage": "proposal"}},
        ("POST", "/review/complaints/{complaint_id}/answer"): {"data": {"answer": "x"}},
        ("POST", "/review/projects/{project_id}/bid"): {"files": {"file": ("bid.txt", b"x", "text/plain")}},
        ("POST", "/review/projects/{project_id}/complaints"): {"data": {"grounds": "x"}},
        ("POST", "/review/projects/{project_id}/{stage}"): {"data": {"action": "conflict", "statement": "x"}},
        ("POST", "/projects/{project_id}/adjustments"): {"data": {"kind": "extension"}},
        ("POST", "/api/projects/{project_id}/adjustments"): {"json": {"kind": "extension"}},
        ("POST", "/adjustments/{adjustment_id}/fire"): {"data": {"trigger": "review_adjustment", "reason": "x"}},
        ("POST", "/api/adjustments/{adjustment_id}/actions/{action}"): {"json": {"reason": "x"}},
        ("POST", "/programmes/{code}/fire"): {"data": {"trigger": "launch"}},
        ("POST", "/office/publications/publish"): {"data": {"kind": "no_such_kind"}},
        ("POST", "/office/publications/{publication_id}/override"): {"data": {"reason": "x"}},
        ("POST", "/orgs/{org_id}/qualifications/{code}/revoke"): {"data": {"reason": "x"}},
        ("POST", "/calls/{call_id}/apply"): {"data": {"title": "x"}},
    }


# where a path's placeholder means something else than elsewhere (``code``: a language, a
# programme's number, a qualification)
PATH_IDS: dict[str, dict[str, Any]] = {"programmes": {"code": 7}, "orgs": {"code": "high_tech_enterprise"}}


def outcome(r: Any) -> str:
    if r.status_code == 401 or (r.status_code == 303 and r.headers["location"].startswith("/login")):
        return "in"
    if r.status_code in (403, 404):
        return "no"
    if r.status_code == 200 and r.headers["content-type"].startswith("application/json"):
        body = r.json()
        refused = ("forbidden", "not_found")
        if isinstance(body, list) and body and all(isinstance(i, dict) and i.get("error") in refused for i in body):
            return "no"  # a batch whose every item was refused for who asked
    assert r.status_code < 500, r.text[:300]
    return "ok"


def _order(key: tuple[str, str]) -> tuple[int, str, str]:
    # reads first, then writes; submitting and withdrawing late (they end the draft, and with it
    # the editable proposal), signing in and out last
    method, path = key
    last = {
        ("POST", "/projects/{project_id}/fire"): 1,
        ("POST", "/api/projects/{project_id}/triggers/{trigger}"): 1,
        ("POST", "/review/projects/{project_id}/submit"): 1,
        ("POST", "/api/review/projects/{project_id}/submit"): 1,
    }
    tail = {("POST", "/logout"): 3, ("POST", "/login"): 2, ("POST", "/account/password"): 1}
    return (0 if method == "GET" else 1 + last.get(key, 0) * 2 + tail.get(key, 0) * 3, method, path)


@pytest.mark.parametrize("role", ROLES)
def test_who_may_use_each_route(role: str, engine: Engine, people: People, now: datetime) -> None:
    call_id = call(engine, people, now)
    pid = draft(engine, people, now, call_id, "applicant")
    # a second project, under review with the call's panel formed: what the batch desks work on
    reviewed = make_project(engine, people, now, call_id=call_id, applicant="applicant2", state="under_review")
    panel(engine, people, now, call_id)
    # a project of the applicant's unit in execution, with a dynamic-adjustment request drafted
    running = make_project(engine, people, now, call_id=call_id, state="in_execution")
    with engine.begin() as conn:
        adjustment_id = adjustments.start(
            conn, project_id=running, kind="extension", actor=people["applicant"], now=now
        )
    with engine.begin() as conn:
        stored = store_attachment(
            conn,
            project_id=pid,
            form_key="proposal",
            field="attachments",
            filename="a.pdf",
            content=PDF,
            actor=people["applicant"],
        )
        submission_id = conn.exec_driver_sql(
            "SELECT max(id) FROM submissions WHERE project_id = ?", (pid,)
        ).scalar_one()
    ids: dict[str, Any] = {
        "project_id": pid,
        "reviewed_id": reviewed,
        "call_id": call_id,
        "key": "proposal",
        "stage": "proposal",
        "trigger": "withdraw",
        "code": "en",
        "attachment_id": stored.ref.id,
        "submission_id": submission_id,
        "complaint_id": 999_999,  # none exists: the office is told so, others are refused first
        "delivery_id": 999_999,
        "adjustment_id": adjustment_id,
        "running_id": running,
        "action": "review",
        "org_id": people["applicant"].organisation_id,
        "publication_id": 999_999,  # none exists
        "user_id": 999_999,
        "name": "projects",
        "fmt": "csv",
        "name:path": "nothing.pdf",
        "token": "no-such-token",
    }
    app = create_app()
    app.dependency_overrides[clock] = lambda: now
    client = WebClient(app)
    if role != "anonymous":
        r = client.post("/login", data={"email": People.SHORT[role], "password": DEMO_PASSWORD}, follow_redirects=False)
        assert r.status_code == 303
    bodies = _bodies(ids, role)
    column = ROLES.index(role)
    seen: dict[tuple[str, str], str] = {}
    for key in sorted(MATRIX, key=_order):
        method, path = key
        here = {**ids, **PATH_IDS.get(path.split("/")[1], {})}
        url = re.sub(r"{([\w:]+)}", lambda m, here=here: str(here[m.group(1)]), path)
        if "/projects/{project_id}/adjustments" in path:  # adjustments belong to projects in execution
            url = url.replace(f"/projects/{pid}/", f"/projects/{running}/")
        r = client.request(method, url, follow_redirects=False, **bodies.get(key, {}))
        seen[key] = outcome(r)
    wrong = {
        f"{m} {p}": f"expected {MATRIX[(m, p)].split()[column]}, got {got}"
        for (m, p), got in seen.items()
        if got != MATRIX[(m, p)].split()[column]
    }
    assert not wrong, f"{role}: {wrong}"
