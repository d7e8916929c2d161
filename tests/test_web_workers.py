"""Several web processes on one installation (``GRANTFLOW_WEB_WORKERS``): what one process starts,
another continues. Sessions, CSRF tokens and the secret key are shared through the database and
the data directory, never held in one process."""

from __future__ import annotations

import sys
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from grantflow.config import get_settings
from grantflow.flows.serve import web_command
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app, secret_key
from tests.conftest import People
from tests.factories import make_project, state_of
from tests.web import WebClient


def test_the_web_app_is_started_with_the_configured_processes() -> None:
    one = web_command(host="127.0.0.1", port=8000, workers=1)
    assert one[:3] == [sys.executable, "-m", "uvicorn"] and "--workers" not in one
    assert web_command(host="127.0.0.1", port=8000, workers=2)[-2:] == ["--workers", "2"]


def test_processes_starting_together_share_one_secret_key(engine: Engine) -> None:
    settings = get_settings()
    path = settings.home_dir / "secret_key"
    path.unlink(missing_ok=True)
    first = secret_key(settings)
    assert secret_key(settings) == first and path.stat().st_mode & 0o777 == 0o600
    assert not list(settings.home_dir.glob(".secret_key.*"))  # no half-made key left behind


def test_a_session_from_one_process_submits_through_another(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now, state="draft")
    one, other = WebClient(create_app()), TestClient(create_app())
    r = one.post(
        "/login",
        data={"email": "pi@jinghua.example.com", "password": DEMO_PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    token = one.csrf_token()
    other.cookies.update(one.cookies)
    # the other process knows the session and accepts the token the first one gave out
    r = other.post(f"/projects/{pid}/fire", data={"trigger": "withdraw", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and state_of(engine, pid) != "draft"
