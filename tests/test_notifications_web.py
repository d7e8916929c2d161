"""The in-app inbox page through HTTP on the real app: messages in the user's language, marking
read, choosing how to be notified, and the office's view of delivery problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from grantflow.config import get_settings
from grantflow.db.models import InboxMessage, NotificationDelivery, NotificationPreference, table
from grantflow.flows import jobs
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project
from tests.web import WebClient


def login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def test_inbox_shows_messages_in_each_language_and_marks_them_read(engine: Engine, people: People) -> None:
    now = datetime.now(UTC)
    make_project(engine, people, now, state="under_review")
    jobs.run("dispatch", engine, now + timedelta(seconds=1), get_settings())
    client = WebClient(create_app())
    login(client, "office@kw.example.cn")
    page = client.get("/inbox").text
    assert "消息" in page and "提交申报" in page and "条未读" in page
    clerk = WebClient(create_app())
    login(clerk, "clerk@kw.example.cn")  # an English-speaking member of the office
    clerk.get("/lang/en")
    page = clerk.get("/inbox").text
    assert "How you are notified" in page and "[grantflow] Project" in page
    data = client.get("/api/inbox").json()
    assert data["unread"] >= 1
    first = data["messages"][0]["id"]
    assert client.post("/inbox/read", data={"message_id": str(first)}, follow_redirects=False).status_code == 303
    assert client.get("/api/inbox").json()["unread"] == data["unread"] - 1
    # marking someone else's message changes nothing
    with engine.connect() as conn:
        others = conn.execute(select(InboxMessage.id).where(InboxMessage.user_id != people["office"].user_id)).scalars()
        other = next(iter(others))
    clerk.post("/inbox/read", data={"message_id": str(first)})
    with engine.connect() as conn:
        assert conn.execute(select(InboxMessage.read_at).where(InboxMessage.id == other)).scalar() is None


def test_preferences_are_saved_per_kind(engine: Engine, people: People) -> None:
    client = WebClient(create_app())
    login(client, "pi@jinghua.example.com")
    r = client.post(
        "/inbox/preferences",
        data={"mode:reminder.due_soon": "digest", "mode:transition": "in_app", "mode:escalation.office": "nonsense"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with engine.connect() as conn:
        rows = conn.execute(
            select(NotificationPreference.kind, NotificationPreference.mode).where(
                NotificationPreference.user_id == people["applicant"].user_id
            )
        ).all()
    chosen = dict(rows)
    assert chosen["reminder.due_soon"] == "digest" and chosen["transition"] == "in_app"
    assert chosen.get("escalation.office", "immediate") == "immediate"
    assert 'value="digest" selected' in client.get("/inbox").text


def test_office_sees_uncertain_deliveries_and_only_the_office_may_resend(engine: Engine, people: People) -> None:
    now = datetime.now(UTC)
    make_project(engine, people, now, state="submitted")
    jobs.run("dispatch", engine, now + timedelta(seconds=1), get_settings())
    with engine.begin() as conn:  # as if an e-mail channel had been on and a sender had died mid-send
        inbox_id = conn.execute(select(InboxMessage.id).limit(1)).scalar_one()
        user_id = conn.execute(select(InboxMessage.user_id).where(InboxMessage.id == inbox_id)).scalar_one()
        conn.execute(
            table(NotificationDelivery).insert(),
            {"inbox_id": inbox_id, "user_id": user_id, "channel": "email", "status": "uncertain", "attempts": 1,
             "created_at": now, "last_error": "the sender stopped after claiming this e-mail"},
        )  # fmt: skip
        delivery = conn.execute(select(NotificationDelivery.id)).scalar_one()
    applicant = WebClient(create_app())
    login(applicant, "pi@jinghua.example.com")
    assert "待处理的投递问题" not in applicant.get("/inbox").text
    assert applicant.post(f"/inbox/deliveries/{delivery}/resend").status_code == 403
    office = WebClient(create_app())
    login(office, "office@kw.example.cn")
    page = office.get("/inbox").text
    assert "待处理的投递问题" in page and "uncertain" in page
    office.post(f"/inbox/deliveries/{delivery}/resend", follow_redirects=False)
    with engine.connect() as conn:
        assert conn.execute(select(NotificationDelivery.status)).scalar() == "pending"
    with engine.begin() as conn:
        conn.execute(update(table(NotificationDelivery)).values(status="sent"))
