"""Reminders, escalation and delivery end to end: real SQLite file, real SMTP server on loopback,
time passed in. Each test checks what the SMTP server received: recipient, language, subject, body."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from grantflow.config import get_settings
from grantflow.db.apply import fire
from grantflow.db.models import (
    AuditEvent,
    DueItem,
    InboxMessage,
    NotificationDelivery,
    NotificationDigest,
    OutboxMessage,
    Project,
    ReviewAssignment,
    table,
)
from grantflow.flows import jobs
from grantflow.flows.sweep import deadline_sweep, reminder_sweep
from grantflow.notifications.dispatch import problems, resend, send_emails
from grantflow.notifications.mailer import SmtpConfig, session
from grantflow.notifications.preferences import set_mode
from grantflow.services.deadlines import set_report_schedule
from grantflow.services.records import save_submission
from grantflow.states.errors import Forbidden
from tests import test_notifications_smtp as smtp_fixtures
from tests.conftest import People
from tests.factories import make_call, make_project
from tests.test_notifications_smtp import SmtpServer

TZ = "Asia/Shanghai"
smtp_server = smtp_fixtures.smtp_server  # the loopback SMTP server's fixtures, shared
smtp_env = smtp_fixtures.smtp_env


def one_off(engine: Engine, project_id: int, due: datetime, now: datetime, form_key: str = "progress_report") -> int:
    with engine.begin() as conn:
        return set_report_schedule(
            conn, project_id=project_id, form_key=form_key, kind="one_off", first_due=due, now=now, tz=TZ
        )


def run(name: str, engine: Engine, now: datetime) -> dict[str, Any]:
    return jobs.run(name, engine, now, get_settings())


def quiet(engine: Engine, smtp: SmtpServer, now: datetime) -> None:
    """Deliver what setting up the story wrote (workflow messages) and forget it: tests count what follows."""
    run("dispatch", engine, now)
    smtp.inbox.messages.clear()


def items(engine: Engine, project_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(DueItem).where(DueItem.subject_id == project_id).order_by(DueItem.id)).all()


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = [OutboxMessage, InboxMessage, NotificationDelivery, NotificationDigest, DueItem, Project]
    with engine.connect() as conn:
        out = {t.__tablename__: [tuple(r) for r in conn.execute(select(t.__table__))] for t in tables}
        out["audit"] = [(conn.execute(select(func.count()).select_from(table(OutboxMessage))).scalar(),)]
    return out


def test_acceptance_creates_the_four_post_evaluation_tasks(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now, state="post_evaluation")
    rows = items(engine, pid)
    assert [(r.form_key, r.period, r.status) for r in rows] == [
        ("post_evaluation_report", year, "open") for year in (2026, 2027, 2028, 2029)
    ]
    # 31 March of the next year, 17:00 in Beijing = 09:00 UTC
    assert [r.due_at for r in rows] == [datetime(y + 1, 3, 31, 9, 0, tzinfo=UTC) for y in (2026, 2027, 2028, 2029)]


def _signed_for(engine: Engine, people: People, now: datetime, *, days: int, workflow: str = "standard") -> int:
    """A project whose task agreement, for an execution period of ``days`` from ``now``, is signed."""
    pid = make_project(engine, people, now, workflow=workflow, state="commissioning")
    with engine.begin() as conn:
        conn.execute(
            update(table(Project)).where(Project.id == pid).values(start_date=now, end_date=now + timedelta(days=days))
        )
        save_submission(
            conn, project_id=pid, form_key="task_agreement", data={"ok": 1}, actor=people["applicant"], submit=True
        )
    fire(engine, subject_id=pid, trigger="sign_agreement", actor=people["organiser"], now=now)
    return pid


def test_signing_with_an_execution_period_schedules_midterm_and_acceptance(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = _signed_for(engine, people, now, days=730)
    assert {r.form_key: r.due_at for r in items(engine, pid)} == {
        "midterm_report": now + timedelta(days=365),
        "acceptance_report": now + timedelta(days=730),
    }


def test_a_lifecycle_without_a_midterm_review_gets_no_midterm_report_task(
    engine: Engine, people: People, now: datetime
) -> None:
    # nobody could ever hand that report in: no state of the short lifecycle opens its form
    pid = _signed_for(engine, people, now, days=365, workflow="short")
    assert {r.form_key: r.due_at for r in items(engine, pid)} == {"acceptance_report": now + timedelta(days=365)}


def test_reminders_in_each_recipients_language_once(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    zh = make_project(engine, people, now, state="in_execution", title="智能机器人")
    en = make_project(engine, people, now, applicant="applicant2", state="in_execution", title="Smart robots")
    due = now + timedelta(days=10)
    one_off(engine, zh, due, now, form_key="midterm_report")
    one_off(engine, en, due, now, form_key="midterm_report")

    # 14 days ahead: first reminder; nothing more at the same moment
    run("reminders", engine, due - timedelta(days=14) + timedelta(hours=1))
    got = smtp_env.inbox
    [zh_mail] = got.to("pi@jinghua.example.com")
    [en_mail] = got.to("pi@yanyuan.example.edu")
    assert zh_mail["Subject"].startswith("【grantflow】提醒：中期报告将于14天后截止")
    assert zh_mail["Content-Language"] == "zh-CN"
    assert "周工，您好" in zh_mail.get_content() and "2026-03-12 09:00（Asia/Shanghai）" in zh_mail.get_content()
    assert en_mail["Subject"].startswith("[grantflow] Reminder: mid-term report due in 14 days")
    assert en_mail["Content-Language"] == "en"
    assert "Dear Prof. Wu" in en_mail.get_content() and "Smart robots" in en_mail.get_content()

    # each offset once: re-running at 14, then 7, 3, 1 days gives one message per offset and project
    for days in (14, 7, 7, 3, 1, 1):
        run("reminders", engine, due - timedelta(days=days) + timedelta(hours=2))
    subjects = [m["Subject"] for m in got.to("pi@jinghua.example.com") if "提醒" in m["Subject"]]
    assert len(subjects) == 4 and [s.split("将于")[1][:3] for s in subjects] == ["14天", "7天后", "3天后", "1天后"]
    assert len([m for m in got.to("pi@yanyuan.example.edu") if "Reminder" in m["Subject"]]) == 4

    # submitted: no more messages, the item is done when next looked at
    with engine.begin() as conn:
        save_submission(
            conn, project_id=zh, form_key="midterm_report", data={}, actor=people["applicant"], submit=True, now=due
        )
    run("reminders", engine, due + timedelta(days=1, hours=1))
    assert [r.status for r in items(engine, zh)] == ["done"]
    assert [r.status for r in items(engine, en)] == ["overdue"]
    assert not [m for m in got.to("pi@jinghua.example.com") if "逾期" in m["Subject"]]
    # a day late, only the most recent step is taken: the organising unit is told (in its language)
    [escalated] = [m for m in got.to("organiser@jxw.example.cn") if "督办" in m["Subject"]]
    assert "Smart robots" in escalated["Subject"]


def test_every_flow_run_twice_for_the_same_moment_changes_nothing(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    call = make_call(engine, people, now, closes_in=timedelta(days=2))
    make_project(engine, people, now, call_id=call)  # a draft: its applicant is reminded before the call closes
    pid = make_project(engine, people, now, state="post_evaluation")
    one_off(engine, pid, now + timedelta(days=1), now)
    later = now + timedelta(days=3)
    for moment in (now, later):
        for name in jobs.STEPS:
            run(name, engine, moment)
            before, mails = snapshot(engine), len(smtp_env.inbox.messages)
            run(name, engine, moment)
            assert snapshot(engine) == before, name
            assert len(smtp_env.inbox.messages) == mails, name
    kinds = [m["Subject"] for m in smtp_env.inbox.messages]
    assert any("申报截止" in k or "将于" in k for k in kinds), kinds


def test_escalation_goes_to_the_organising_unit_then_the_office(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    due = now + timedelta(hours=1)
    one_off(engine, pid, due, now)
    quiet(engine, smtp_env, now)
    got = smtp_env.inbox
    run("deadlines", engine, due + timedelta(minutes=1))
    assert [r.status for r in items(engine, pid)] == ["overdue"]
    run("reminders", engine, due + timedelta(minutes=2))
    assert got.to("pi@jinghua.example.com")[-1]["Subject"].startswith("【grantflow】逾期：进展报告")
    run("reminders", engine, due + timedelta(days=1, minutes=5))
    [organiser] = got.to("organiser@jxw.example.cn")
    assert organiser["Subject"] == f"【grantflow】督办：进展报告已逾期1天（{_code(engine, pid)} 测试项目）"
    assert not got.to("organiser@hbj.example.cn")  # the other programme's organiser is not told
    run("reminders", engine, due + timedelta(days=7, minutes=5))
    office = got.to("office@kw.example.cn") + got.to("clerk@kw.example.cn")
    assert sorted(m["Content-Language"] for m in office) == ["en", "zh-CN"]
    clerk = got.to("clerk@kw.example.cn")[0]
    assert clerk["Subject"].startswith("[grantflow] Escalation: progress report 7 days overdue")
    assert "Responsible" not in clerk.get_content()  # report items: the applicants, no single assignee
    # past the last step nothing else is sent, however often the sweep runs
    count = len(got.messages)
    for days in (8, 9, 30):
        run("reminders", engine, due + timedelta(days=days))
    assert len(got.messages) == count


def test_changing_a_schedule_reschedules_its_reminders(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    first = now + timedelta(days=20)
    with engine.begin() as conn:
        set_report_schedule(
            conn, project_id=pid, form_key="progress_report", kind="periodic", every="quarter", count=4,
            first_due=first, now=now, tz=TZ,
        )  # fmt: skip
    assert [r.period for r in items(engine, pid)] == [1, 2, 3, 4]
    quiet(engine, smtp_env, now)
    run("reminders", engine, first - timedelta(days=7))
    assert len(smtp_env.inbox.messages) == 1
    # the office moves the schedule a month later and shortens it to two reports
    moved = first + timedelta(days=30)
    with engine.begin() as conn:
        set_report_schedule(
            conn, project_id=pid, form_key="progress_report", kind="periodic", every="quarter", count=2,
            first_due=moved, now=now, tz=TZ,
        )  # fmt: skip
    rows = items(engine, pid)
    assert [(r.status, r.due_at) for r in rows[:2]] == [
        ("open", moved),
        ("open", datetime(2026, 7, 21, 1, 0, tzinfo=UTC)),
    ]  # same local day, a quarter on
    assert [r.status for r in rows[2:]] == ["cancelled", "cancelled"]
    run("reminders", engine, first - timedelta(days=7))  # the old date's moment again: nothing
    assert len(smtp_env.inbox.messages) == 1
    run("reminders", engine, moved - timedelta(days=7))  # the 7-day reminder follows the new date
    assert len(smtp_env.inbox.messages) == 2
    assert "2026-04-21" in smtp_env.inbox.messages[-1].get_content()


def test_digest_and_in_app_only_preferences(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    applicant, organiser = people["applicant"], people["organiser"]
    with engine.begin() as conn:
        set_mode(conn, user_id=applicant.user_id, kind="*", mode="digest")
        set_mode(conn, user_id=organiser.user_id, kind="project.submit", mode="in_app")
    for title in ("项目甲", "项目乙"):
        pid = make_project(engine, people, now, title=title, state="in_execution")
        one_off(engine, pid, now + timedelta(days=3), now)
    quiet(engine, smtp_env, now)
    run("reminders", engine, now)
    assert smtp_env.inbox.to("pi@jinghua.example.com") == []  # waits for the digest
    assert smtp_env.inbox.to("organiser@jxw.example.cn") == []  # in-app only for workflow changes
    evening = now.replace(hour=10)  # 18:00 in Beijing
    run("digest", engine, evening)
    run("digest", engine, evening + timedelta(hours=1))  # one digest per day
    [digest] = smtp_env.inbox.to("pi@jinghua.example.com")
    assert digest["Subject"].startswith("【grantflow】2026-03-02 消息汇总（")
    body = digest.get_content()
    assert "项目甲" in body and "项目乙" in body
    with engine.connect() as conn:
        inbox = conn.execute(select(InboxMessage.title).where(InboxMessage.user_id == organiser.user_id)).scalars()
        assert any("提交申报" in t for t in inbox)


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so no handler in the dispatcher catches it."""


def test_killed_between_sending_and_recording_is_never_sent_twice(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    one_off(engine, pid, now + timedelta(days=3), now)
    quiet(engine, smtp_env, now)
    settings = get_settings()
    smtp = SmtpConfig.from_settings(settings)
    assert smtp is not None
    jobs.reminders(engine, now, settings)
    jobs.fan_out(engine, now, settings)

    def die(delivery_id: int) -> None:
        raise Killed

    with session(smtp) as mailer, pytest.raises(Killed):
        send_emails(engine, now=now, smtp=smtp, mailer=mailer, lease=timedelta(minutes=10), after_send=die)
    assert len(smtp_env.inbox.messages) == 1  # the server has it; the database does not know
    for moment in (now, now + timedelta(minutes=5), now + timedelta(minutes=11), now + timedelta(days=1)):
        run("dispatch", engine, moment)
    assert len(smtp_env.inbox.messages) == 1
    with engine.connect() as conn:
        [row] = conn.execute(select(NotificationDelivery).where(NotificationDelivery.status != "sent")).all()
        assert row.status == "uncertain"
        assert [p["id"] for p in problems(conn) if p["what"] == "delivery"] == [row.id]
    # the office decides to send it again: that is a person's choice, recorded; nobody else may
    with engine.begin() as conn, pytest.raises(Forbidden):
        resend(conn, delivery_id=row.id, actor=people["applicant"], now=now + timedelta(days=1))
    with engine.begin() as conn:
        assert resend(conn, delivery_id=row.id, actor=people["office"], now=now + timedelta(days=1))
        resent = conn.execute(select(AuditEvent).where(AuditEvent.action == "email_resent")).one()
        assert resent.actor_id == people["office"].user_id
    run("dispatch", engine, now + timedelta(days=1))
    assert len(smtp_env.inbox.messages) == 2


def test_killed_process_really_dies_mid_send(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer, home: Path
) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    one_off(engine, pid, now + timedelta(days=3), now)
    quiet(engine, smtp_env, now)
    settings = get_settings()
    jobs.reminders(engine, now, settings)
    jobs.fan_out(engine, now, settings)
    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime, timedelta
        from grantflow.db.session import get_engine
        from grantflow.config import get_settings
        from grantflow.notifications.dispatch import send_emails
        from grantflow.notifications.mailer import SmtpConfig, session
        smtp = SmtpConfig.from_settings(get_settings())
        with session(smtp) as mailer:
            send_emails(get_engine(), now=datetime.fromisoformat("{now.isoformat()}"), smtp=smtp, mailer=mailer,
                        lease=timedelta(minutes=10), after_send=lambda _id: os._exit(9))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), cwd=Path(__file__).parent.parent)
    assert done.returncode == 9
    assert len(smtp_env.inbox.messages) == 1
    for moment in (now, now + timedelta(hours=1)):
        run("dispatch", engine, moment)
    assert len(smtp_env.inbox.messages) == 1


def test_refusals_retry_with_backoff_and_failures_stay_visible(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    one_off(engine, pid, now + timedelta(days=3), now)
    quiet(engine, smtp_env, now)
    smtp_env.inbox.refuse_next = 1
    run("reminders", engine, now)
    assert smtp_env.inbox.messages == []
    with engine.connect() as conn:
        [row] = conn.execute(select(NotificationDelivery).where(NotificationDelivery.status != "sent")).all()
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, now + timedelta(minutes=1))
    run("dispatch", engine, now + timedelta(seconds=30))  # not before its backoff
    assert smtp_env.inbox.messages == []
    run("dispatch", engine, now + timedelta(minutes=1))
    assert len(smtp_env.inbox.messages) == 1
    # an outbox row that cannot be rendered is kept, retried and shown to the office
    with engine.begin() as conn:
        conn.execute(
            insert(table(OutboxMessage)),
            {"kind": "nonsense.kind", "subject": "project", "subject_id": pid, "audiences": ["applicant"],
             "payload": {}, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now},
        )  # fmt: skip
    report = run("dispatch", engine, now + timedelta(minutes=2))
    assert report["fan-out"]["outbox_failed"] == 1
    with engine.connect() as conn:
        [problem] = [p for p in problems(conn) if p["what"] == "outbox"]
    assert problem["kind"] == "nonsense.kind" and "not in the catalogue" in problem["last_error"]


def test_calls_open_and_close_on_time_through_the_engine(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    call = make_call(engine, people, now, closes_in=timedelta(days=1))
    draft = make_project(engine, people, now, call_id=call)
    report = deadline_sweep(engine, now=now + timedelta(days=1), settings=get_settings())
    assert report.calls_closed == []  # at the deadline itself a submission is still on time
    late = now + timedelta(days=1, seconds=1)
    assert deadline_sweep(engine, now=late, settings=get_settings()).calls_closed == [call]
    assert deadline_sweep(engine, now=late, settings=get_settings()).calls_closed == []
    with engine.connect() as conn:
        from grantflow.db.models import AuditEvent, Call

        assert conn.execute(select(Call.state).where(Call.id == call)).scalar() == "closed"
        event = conn.execute(select(AuditEvent).where(AuditEvent.action == "close_call")).one()
        assert (event.actor_name, event.subject_id) == ("system", call)
    assert draft


def test_applicants_with_drafts_are_reminded_before_the_call_closes(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    call = make_call(engine, people, now, closes_in=timedelta(days=3, hours=1))
    make_project(engine, people, now, call_id=call, title="未提交项目")
    make_project(engine, people, now, call_id=call, applicant="applicant2", state="submitted")
    quiet(engine, smtp_env, now)
    run("reminders", engine, now + timedelta(hours=2))
    run("reminders", engine, now + timedelta(hours=3))
    [mail] = smtp_env.inbox.messages
    assert mail["To"].addresses[0].addr_spec == "pi@jinghua.example.com"
    assert mail["Subject"] == "【grantflow】提醒：申报指南“测试指南”将于3天后截止"
    assert "未提交项目" in mail.get_content()


def test_reviewers_and_evaluators_are_reminded_of_open_assignments(
    engine: Engine, people: People, now: datetime, smtp_env: SmtpServer
) -> None:
    pid = make_project(engine, people, now, state="under_review")
    with engine.begin() as conn:
        for who in ("expert3", "evaluator"):
            conn.execute(
                insert(table(ReviewAssignment)),
                {"project_id": pid, "stage": "proposal", "reviewer_id": people[who].user_id, "assigned_at": now},
            )
    quiet(engine, smtp_env, now)
    review_days = get_settings().review_days
    run("reminders", engine, now + timedelta(days=review_days - 3))
    assert sorted(r.kind for r in items(engine, pid)) == ["evaluation", "review"]
    [review] = smtp_env.inbox.to("expert3@qingyuan.example.cn")
    assert review["Subject"].startswith("[grantflow] Reminder: expert review (proposal review) due in 3 days")
    [evaluation] = smtp_env.inbox.to("evaluator@qingyuan.example.cn")
    assert evaluation["Subject"].startswith("【grantflow】提醒：立项评审第三方评估将于3天后截止")
    assert smtp_env.inbox.to("pi@jinghua.example.com") == []
    # the expert declares a conflict: the assignment is closed, so is the item; the evaluator is chased
    with engine.begin() as conn:
        conn.execute(
            update(table(ReviewAssignment))
            .where(ReviewAssignment.reviewer_id == people["expert3"].user_id)
            .values(conflict_declared_at=now)
        )
    run("reminders", engine, now + timedelta(days=review_days - 1))
    assert len(smtp_env.inbox.to("expert3@qingyuan.example.cn")) == 1
    assert len(smtp_env.inbox.to("evaluator@qingyuan.example.cn")) == 2
    assert sorted(r.status for r in items(engine, pid)) == ["done", "open"]


def _code(engine: Engine, pid: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Project.code).where(Project.id == pid)).scalar_one())


def test_reminder_sweep_report_counts(engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    one_off(engine, pid, now + timedelta(days=1), now)
    report = reminder_sweep(engine, now=now, settings=get_settings())
    assert (report.items_scanned, report.messages) == (1, 1)
    assert report.rows_touched >= 2
