"""Cross-site requests, sessions, sign-in throttling, headers: through HTTP on the real app and DB file."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.config import reset_settings
from grantflow.db.models import AuditEvent, Base, QuestionnaireResponse, ThrottleEvent, WebSession
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project, state_of
from tests.web import WebClient

SAFE = {"GET", "HEAD", "OPTIONS"}
EVIL = "https://evil.example"
TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"


def login(client: TestClient, email: str, password: str = DEMO_PASSWORD) -> None:
    r = client.post("/login", data={"email": email, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    """Every row of every table: a refused request must leave this exactly as it was."""
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in Base.metadata.sorted_tables}


def app_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, included routers flattened as FastAPI sees them."""
    return sorted(
        (method, str(ctx.path))
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
        for method in ctx.methods or ()
        if method != "HEAD"
    )


def state_changing_routes(app: Any) -> list[tuple[str, str]]:
    return [(m, p) for m, p in app_routes(app) if m not in SAFE]


def fill(path: str, values: dict[str, str]) -> str:
    names = re.findall(r"{(\w+)}", path)
    missing = [n for n in names if n not in values]
    assert not missing, f"add a value for {missing} of {path} to the cross-site test"
    for n in names:
        path = path.replace("{" + n + "}", values[n])
    return path


FORM = {
    "trigger": "withdraw",
    "reason": "cross-site",
    "email": "office@kw.example.cn",
    "password": DEMO_PASSWORD,
    "grounds": "x",
    "answer": "x",
    "statement": "x",
    "action": "submit",
    "current": DEMO_PASSWORD,
    "new": "a-new-password-123",
    "repeat": "a-new-password-123",
    "kind": "extension",
    "valid_from": "2026-01-01",
    "valid_until": "2030-01-01",
    "title": "cross-site",
}
JSON = {"trigger": "withdraw", "reason": "x", "grounds": "x", "answer": "x", "statement": "x", "content": "x"}


def test_a_cross_site_post_changes_nothing_on_any_state_changing_route(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, state="draft")
    app = create_app()
    routes = state_changing_routes(app)
    assert len(routes) >= 20  # the enumeration found the app's routes, not an empty list
    values = {
        "project_id": str(pid),
        "call_id": "1",
        "complaint_id": "1",
        "delivery_id": "1",
        "key": "proposal",
        "stage": "proposal",
        "trigger": "withdraw",
        "adjustment_id": "1",
        "action": "approve",
        "code": "7",
        "org_id": "1",
        "publication_id": "1",
        "user_id": "1",
        "token": "x",
    }
    owner, office = WebClient(app), WebClient(app)
    login(owner, "pi@jinghua.example.com")
    login(office, "office@kw.example.cn")
    before = snapshot(engine)
    for client in (owner, office):
        token = client.csrf_token()
        for method, path in routes:
            url = fill(path, values)
            body: dict[str, Any] = (
                {"json": JSON} if url.startswith("/api/") else {"data": {**FORM, "csrf_token": token}}
            )
            # a page on another site posting with the victim's cookie (even knowing a token)
            r = client.request(method, url, headers={"Origin": EVIL, "X-CSRF-Token": token}, **body)
            assert r.status_code == 403, (method, url, r.status_code, r.text[:200])
            r = client.request(method, url, headers={"Referer": f"{EVIL}/page", "Sec-Fetch-Site": "cross-site"}, **body)
            assert r.status_code == 403, (method, url, r.status_code)
            # no origin header at all (an old browser, a script): the token is still required
            no_token = {"json": JSON} if url.startswith("/api/") else {"data": FORM}
            r = client.request(method, url, headers={"X-CSRF-Token": ""}, **no_token)
            assert r.status_code == 403, (method, url, r.status_code)
            assert snapshot(engine) == before, (method, url)
    # the refusal is bilingual and in the right form for each interface
    page = owner.post(f"/projects/{pid}/fire", data=FORM, headers={"Origin": EVIL})
    assert page.headers["content-type"].startswith("text/html") and "来自其他网站" in page.text
    owner.get("/lang/en")
    page = owner.post(f"/projects/{pid}/fire", data=FORM, headers={"Origin": EVIL})
    assert "another site" in page.text
    api = owner.post(f"/api/projects/{pid}/triggers/withdraw", json={}, headers={"Origin": EVIL})
    assert api.json()["error"] == "cross_site" and set(api.json()["messages"]) == {"zh", "en"}
    # control: the same request from the page itself, with its token, does withdraw the project
    r = owner.post(
        f"/projects/{pid}/fire",
        data={"trigger": "withdraw"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert state_of(engine, pid) == "withdrawn"


def test_every_post_form_on_a_page_carries_the_sessions_token(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now, state="draft")
    client = WebClient(create_app())
    login(client, "pi@jinghua.example.com")
    token = client.csrf_token()
    for url in ("/", f"/projects/{pid}", f"/projects/{pid}/forms/proposal", "/inbox", "/account/password", "/needs"):
        html = client.get(url).text
        forms = re.findall(r"<form\b[^>]*method=\"post\"[^>]*>(.{0,200})", html, flags=re.S | re.I)
        assert forms, url
        for inner in forms:
            assert f'name="csrf_token" value="{token}"' in inner, url
        assert f'<meta name="csrf-token" content="{token}">' in html


def test_login_form_is_protected_too_and_the_token_changes_at_sign_in(engine: Engine) -> None:
    client = WebClient(create_app())
    page = client.get("/login")
    anonymous = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert anonymous is not None
    # a forged sign-in (someone else's account into my browser) is refused without the token
    r = client.post(
        "/login", data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD}, headers={"X-CSRF-Token": "x"}
    )
    assert r.status_code == 403
    before = client.cookies.get("grantflow")
    r = client.post(
        "/login",
        data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD, "csrf_token": anonymous.group(1)},
        headers={"X-CSRF-Token": anonymous.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    after = client.cookies.get("grantflow")
    assert after and after != before  # a new session token at sign-in: no fixation
    assert client.csrf_token() != anonymous.group(1)


# --- sessions -----------------------------------------------------------------------------------------


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(WebSession)).all())


def test_the_cookie_holds_only_a_random_token_and_the_row_its_hash(engine: Engine) -> None:
    client = WebClient(create_app())
    r = client.post(
        "/login",
        data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    token = client.cookies["grantflow"]
    (row,) = _rows(engine)
    assert row.id == hashlib.sha256(token.encode()).hexdigest() and token not in repr(row)
    assert row.user_id is not None and row.expires_at > row.created_at


def test_cookies_are_secure_over_https_or_when_configured(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    over_https = WebClient(create_app(), base_url="https://testserver")
    r = over_https.post(
        "/login", data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-grantflow=") and "; Secure" in cookie
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert over_https.get("/").status_code == 200  # the secure cookie is read back
    monkeypatch.setenv("GRANTFLOW_COOKIE_SECURE", "true")
    reset_settings()
    plain = WebClient(create_app())
    r = plain.get("/login")
    assert "; Secure" in r.headers["set-cookie"]


def test_sign_out_ends_the_session_on_the_server(engine: Engine) -> None:
    client = WebClient(create_app())
    login(client, "office@kw.example.cn")
    stolen = client.cookies["grantflow"]
    assert client.post("/logout", follow_redirects=False).status_code == 303
    assert _rows(engine) == []
    replay = WebClient(create_app(), cookies={"grantflow": stolen})
    r = replay.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_idle_and_expired_sessions_end(engine: Engine, column: str) -> None:
    client = WebClient(create_app())
    login(client, "office@kw.example.cn")
    assert client.get("/", follow_redirects=False).status_code == 200
    # time passes (the row is aged, nobody sleeps): idle beyond the timeout, or past the absolute end
    past = datetime.now(UTC) - timedelta(hours=13)
    with engine.begin() as conn:
        conn.execute(update(WebSession).values({column: past}))
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert _rows(engine) == []


def test_activity_is_noted_at_most_once_a_minute(engine: Engine) -> None:
    client = WebClient(create_app())
    login(client, "office@kw.example.cn")
    (first,) = _rows(engine)
    client.get("/")
    client.get("/inbox")
    (second,) = _rows(engine)
    assert second.last_seen_at == first.last_seen_at
    with engine.begin() as conn:
        conn.execute(update(WebSession).values(last_seen_at=first.last_seen_at - timedelta(minutes=5)))
    client.get("/")
    (third,) = _rows(engine)
    assert third.last_seen_at > first.last_seen_at - timedelta(minutes=5)


def test_a_password_change_ends_every_session_of_that_person(engine: Engine) -> None:
    app = create_app()
    laptop, phone, other = WebClient(app), WebClient(app), WebClient(app)
    login(laptop, "pi@jinghua.example.com")
    login(phone, "pi@jinghua.example.com")
    login(other, "office@kw.example.cn")
    refused = laptop.post(
        "/account/password", data={"current": "wrong", "new": "short", "repeat": "different"}, follow_redirects=False
    )
    assert refused.status_code == 422
    assert "当前密码不正确" in refused.text and "12" in refused.text and "不一致" in refused.text
    new = "correct horse battery staple"
    r = laptop.post(
        "/account/password", data={"current": DEMO_PASSWORD, "new": new, "repeat": new}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    for client in (laptop, phone):
        assert client.get("/", follow_redirects=False).status_code == 303
    assert other.get("/", follow_redirects=False).status_code == 200  # someone else's sign-in is untouched
    with engine.connect() as conn:
        actions = conn.execute(select(AuditEvent.action).where(AuditEvent.subject == "user")).scalars().all()
    assert "password_changed" in actions
    fresh = WebClient(app)
    bad = fresh.post("/login", data={"email": "pi@jinghua.example.com", "password": DEMO_PASSWORD})
    assert bad.status_code == 401
    login(fresh, "pi@jinghua.example.com", new)


def test_the_cli_password_command_ends_sessions_too(engine: Engine) -> None:
    client = WebClient(create_app())
    login(client, "pi@jinghua.example.com")
    new = "another long password"
    result = CliRunner().invoke(cli, ["users", "passwd", "pi@jinghua.example.com"], input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert client.get("/", follow_redirects=False).status_code == 303


# --- sign-in throttling ---------------------------------------------------------------------------------


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("GRANTFLOW_SIGNIN_ACCOUNT_LIMIT", "3")
    monkeypatch.setenv("GRANTFLOW_SIGNIN_ADDRESS_LIMIT", "5")
    monkeypatch.setenv("GRANTFLOW_NEEDS_ADDRESS_LIMIT", "2")
    reset_settings()


def test_an_account_is_paused_after_repeated_failures_with_a_clear_message(strict: None, engine: Engine) -> None:
    client = WebClient(create_app())
    for _ in range(3):
        r = client.post("/login", data={"email": "pi@jinghua.example.com", "password": "guess"})
        assert r.status_code == 401 and "邮箱或密码不正确" in r.text
    # now even the right password waits, and the page says so and for how long, keeping the e-mail typed
    r = client.post("/login", data={"email": "pi@jinghua.example.com", "password": DEMO_PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "登录失败次数过多" in r.text and "分钟后再试" in r.text and 'value="pi@jinghua.example.com"' in r.text
    en = client.post(
        "/login", data={"email": "pi@jinghua.example.com", "password": DEMO_PASSWORD}, headers={"Accept-Language": "en"}
    )
    assert en.status_code == 429 and "Too many failed sign-ins" in en.text
    with engine.connect() as conn:
        noted = conn.execute(select(AuditEvent.payload).where(AuditEvent.action == "signin_throttled")).scalars().all()
    assert len(noted) == 1 and noted[0]["failures"] == 3
    # other accounts from elsewhere are not affected... and the window passes (attempts aged, not slept)
    login(WebClient(create_app()), "office@kw.example.cn")
    with engine.begin() as conn:
        conn.execute(update(ThrottleEvent).values(at=datetime.now(UTC) - timedelta(hours=1)))
    login(client, "pi@jinghua.example.com")


def test_one_address_trying_many_accounts_is_paused(strict: None, engine: Engine) -> None:
    client = WebClient(create_app())
    for i in range(5):
        r = client.post("/login", data={"email": f"nobody{i}@example.cn", "password": "guess"})
        assert r.status_code == 401
    r = client.post("/login", data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD})
    assert r.status_code == 429


def test_an_unknown_account_answers_and_costs_as_a_wrong_password(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grantflow.services.passwords as passwords

    calls: list[int] = []
    real = passwords.hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs["n"])
        return real(*args, **kwargs)

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    client = WebClient(create_app())
    known = client.post("/login", data={"email": "office@kw.example.cn", "password": "wrong"})
    known_calls = list(calls)
    calls.clear()
    unknown = client.post("/login", data={"email": "nobody@kw.example.cn", "password": "wrong"})
    assert known.status_code == unknown.status_code == 401
    # the only difference is the e-mail typed, kept in the form (a demo install lists its accounts on
    # both pages alike)
    typed = 'value="office@kw.example.cn"'
    assert known.text.replace(typed, 'value="nobody@kw.example.cn"') == unknown.text.replace(
        client.csrf_token(), client.csrf_token()
    )
    # the same scrypt work (same cost parameter) whether or not the account exists
    assert calls == known_calls == [2**14]


def test_the_needs_questionnaire_is_rate_limited_per_address_keeping_what_was_typed(
    strict: None, engine: Engine
) -> None:
    client = WebClient(create_app())
    answer = {
        "respondent_kind": "enterprise",
        "contact_name": "王女士",
        "contact": "wang@example.com",
        "programme": "7",
        "need_title": "协作机器人安全标准",
        "description": "缺少国家标准。",
        "expected_outcome": "团体标准 1 项",
        "urgency": "high",
        "cofund": "no",
    }
    statuses = []
    for i in range(3):
        r = client.post("/needs", data={**answer, "need_title": f"需求{i}号"}, follow_redirects=False)
        statuses.append(r.status_code)
    assert statuses == [303, 303, 429]
    assert 'value="需求2号"' in r.text and "提交过于频繁" in r.text and int(r.headers["retry-after"]) > 0
    with engine.connect() as conn:
        kept = conn.execute(select(QuestionnaireResponse.data)).scalars().all()
    assert sorted(d["need_title"] for d in kept) == ["需求0号", "需求1号"]  # the third was not kept


# --- headers and pages ----------------------------------------------------------------------------------


def test_security_headers_on_every_response(engine: Engine) -> None:
    client = WebClient(create_app())
    for url in ("/login", "/needs", "/nope", "/api/session", "/static/style.css"):
        r = client.get(url)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, url
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-frame-options"] == "DENY"
    login(client, "office@kw.example.cn")
    for url in ("/", "/inbox", "/api/projects"):
        assert client.get(url).headers["cache-control"] == "no-store", url
    assert "no-store" not in client.get("/static/style.css").headers.get("cache-control", "")


def test_no_template_has_inline_script_or_style() -> None:
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert "<style" not in text and not re.search(r"\son[a-z]+=", text) and "style=" not in text, path
