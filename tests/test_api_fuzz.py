"""The JSON API fuzzed from its own OpenAPI description (schemathesis, bounded examples).

Signed in as an applicant, with a valid CSRF token so that state-changing operations are really
exercised: no input may end in a 500, every error is the API's JSON shape, and no answer carries
another organisation's project (its title and form content are planted with a marker).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine

from grantflow.services.records import save_submission
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import make_project
from tests.test_review_helpers import call, draft
from tests.web import WebClient

MARKER = "OTHER-ORG-MARKER-7f3a"
EXAMPLES = 12  # per operation and pass: bounded, so the suite stays quick


SENT: list[str] = []


def _send(client: WebClient, case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    method, url = kwargs.pop("method"), kwargs.pop("url")
    headers = {k: v for k, v in kwargs.pop("headers", {}).items() if k.lower() not in ("connection", "accept-encoding")}
    headers["X-CSRF-Token"] = client.csrf_token()
    SENT.append(f"{method} {url}")
    kwargs.pop("cookies", None)
    return client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


def _check(r: Any, label: str) -> None:
    assert r.status_code < 500, (label, r.status_code, r.text[:300])
    assert MARKER not in r.text, (label, "another organisation's data in the answer")
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body, dict) and "error" in body and set(body.get("messages", {})) == {"zh", "en"}, (
            label,
            body,
        )


@pytest.mark.parametrize("targeted", [False, True], ids=["random-ids", "other-organisations-ids"])
def test_the_json_api_survives_fuzzing_and_never_leaks(
    targeted: bool, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now)
    draft(engine, people, now, call_id, "applicant")
    theirs = make_project(engine, people, now, applicant="applicant2", state="under_review", title=MARKER)
    with engine.begin() as conn:
        save_submission(
            conn,
            project_id=theirs,
            form_key="proposal",
            data={"summary": MARKER},
            actor=people["applicant2"],
            submit=True,
            now=now,
        )
    app = create_app()
    app.dependency_overrides[clock] = lambda: now
    client = WebClient(app)
    r = client.post("/login", data={"email": "pi@jinghua.example.com", "password": DEMO_PASSWORD})
    assert r.status_code == 200
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    api = [op for op in operations if op.path.startswith("/api/") and op.path != "/api/session"]
    assert len(api) >= 20
    fixed = {"project_id": theirs, "call_id": call_id} if targeted else None

    def run(op: Any, path_parameters: dict[str, Any] | None) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(path_parameters=path_parameters))
        def exercise(case: Any) -> None:
            _check(_send(client, case), op.label)

        exercise()

    SENT.clear()
    for op in api:
        path_parameters = (
            {k: v for k, v in (fixed or {}).items() if "{" + k + "}" in op.path} if fixed is not None else None
        )
        if targeted and not path_parameters:
            continue
        run(op, path_parameters)
    statuses = len(SENT)
    assert statuses >= (12 if targeted else 3 * len(api)), statuses  # the fuzzer really sent requests
