"""Projects' S&T reports: the formal compliance check, and what is ready to publish.

The undertaking unit writes the report as a stage form (``st_report``; the period is the
report's sequence number in the project). Each submitted version is checked once
(``states.st_report.compliance_problems``): a failing one goes back to the unit with every
reason (an audit event and a message); a passing one gets its report number and its release
date. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, exists, func, select

from grantflow.db import audit
from grantflow.db.inserts import insert_ignoring_duplicates
from grantflow.db.models import (
    Organisation,
    OutboxMessage,
    Programme,
    Project,
    Publication,
    StReportCheck,
    Submission,
    table,
)
from grantflow.states.disclosure import ST_FULL, ST_SHEET
from grantflow.states.enums import SubmissionStatus
from grantflow.states.permissions import SYSTEM
from grantflow.states.st_report import (
    DEFERRED,
    FORM_KEY,
    RELEASE_SCOPES,
    REPORT_KINDS,
    compliance_problems,
    keywords,
    release_date,
    report_number,
)
from grantflow.states.text import Text

_s = table(Submission)
_c = table(StReportCheck)
_p = table(Project)
_o = table(Organisation)
_prog = table(Programme)
_pub = table(Publication)
_outbox = table(OutboxMessage)

RETURNED_KIND = "st_report.returned"


@dataclass(frozen=True)
class StReport:
    """A checked report as its documents show it."""

    project_id: int
    programme_id: int
    programme: str
    project_code: str
    project_title: str
    unit: str
    seq: int
    report_number: str
    title: str
    report_kind: str
    authors: list[dict[str, str]]
    scope: str
    scope_label: str
    report_date: date | None
    release_date: date | None
    deferral_reason: str
    keywords: list[str]
    abstract: str
    funding_channel: str
    introduction: str
    sections: list[dict[str, str]]
    conclusions: str
    references: str
    appendix: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deferred(self) -> bool:
        return self.scope == DEFERRED


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def build_report(
    data: Mapping[str, Any], *, project: Any, programme: str, unit: str, seq: int, number: str
) -> StReport:
    return StReport(
        project_id=project.id,
        programme_id=project.programme_id,
        programme=programme,
        project_code=project.code,
        project_title=project.title,
        unit=unit,
        seq=seq,
        report_number=number,
        title=str(data.get("title") or project.title),
        report_kind=REPORT_KINDS.get(str(data.get("report_kind")), Text("", "")).zh,
        authors=[
            {"name": str(a.get("name") or ""), "unit": str(a.get("unit") or "")}
            for a in data.get("authors") or []
            if isinstance(a, Mapping)
        ],
        scope=str(data.get("release_scope") or ""),
        scope_label=RELEASE_SCOPES.get(str(data.get("release_scope")), Text("", "")).zh,
        report_date=_day(data.get("report_date")),
        release_date=release_date(data),
        deferral_reason=str(data.get("deferral_reason") or ""),
        keywords=keywords(data.get("keywords")),
        abstract=str(data.get("abstract") or ""),
        funding_channel=str(data.get("funding_channel") or ""),
        introduction=str(data.get("introduction") or ""),
        sections=[
            {"heading": str(s.get("heading") or ""), "body": str(s.get("body") or "")}
            for s in data.get("sections") or []
            if isinstance(s, Mapping)
        ],
        conclusions=str(data.get("conclusions") or ""),
        references=str(data.get("references") or ""),
        appendix=str(data.get("appendix") or ""),
    )


@dataclass
class CheckReport:
    checked: int = 0
    passed: list[str] = field(default_factory=list)  # report numbers
    returned: list[int] = field(default_factory=list)  # submission ids

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "passed": self.passed, "returned": self.returned}  # not a workflow state


def check_submitted(conn: Connection, *, now: datetime, tz: str) -> CheckReport:
    """Check every submitted report version not checked yet; each version is checked once."""
    report = CheckReport()
    pending = conn.execute(
        select(_s.c.id, _s.c.project_id, _s.c.period, _s.c.data, _s.c.submitted_at).where(
            _s.c.form_key == FORM_KEY,
            _s.c.status == SubmissionStatus.SUBMITTED,
            _s.c.submitted_at.is_not(None),
            ~exists().where(and_(_c.c.submission_id == _s.c.id, _c.c.submitted_at == _s.c.submitted_at)),
        )
    ).all()
    for sub in pending:
        data = dict(sub.data or {})
        problems = compliance_problems(data)
        seq = int(sub.period or 1)
        number = None
        release_on = None
        if not problems:
            code = conn.execute(select(_p.c.code).where(_p.c.id == sub.project_id)).scalar_one()
            number = report_number(
                org_code=str(data["org_code"]), project_code=code, seq=seq, scope=str(data["release_scope"])
            )
            day = release_date(data)
            release_on = datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC) if day else None
        inserted = insert_ignoring_duplicates(
            conn,
            _c,
            [
                {
                    "submission_id": sub.id,
                    "project_id": sub.project_id,
                    "seq": seq,
                    "submitted_at": sub.submitted_at,
                    "ok": not problems,
                    "problems": [p.as_dict() for p in problems],
                    "report_number": number,
                    "release_on": release_on,
                    "checked_at": now,
                }
            ],
        )
        if not inserted:
            continue  # another run checked this version at the same moment
        report.checked += 1
        event_id = audit.note(
            conn,
            subject_id=sub.project_id,
            actor=SYSTEM,
            action="st_report_checked" if not problems else "st_report_returned",
            payload={"seq": seq, "report_number": number, "problems": [p.as_dict() for p in problems]},
            now=now,
        )
        if problems:
            report.returned.append(sub.id)
            # the message to the unit is an outbox row in this transaction; delivery happens later
            insert_ignoring_duplicates(
                conn,
                _outbox,
                [
                    {
                        "kind": RETURNED_KIND,
                        "subject": "project",
                        "subject_id": sub.project_id,
                        "audiences": ["applicant"],
                        "payload": {
                            "seq": seq,
                            "title": data.get("title") or "",
                            "problems": [p.as_dict() for p in problems],
                        },
                        "event_id": event_id,
                        "dedupe_key": f"st_report:{sub.id}:{sub.submitted_at.isoformat()}:returned",
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                ],
            )
        else:
            report.passed.append(str(number))
    return report


@dataclass(frozen=True)
class ReadyReport:
    kind: str  # ST_SHEET or ST_FULL
    report: StReport


def ready_to_publish(conn: Connection, *, now: datetime) -> list[ReadyReport]:
    """Passed reports with a document not yet published: the sheet of a deferred report now, the
    full text of a public report now, the full text of a deferred report from its release date."""
    rows = conn.execute(
        select(_c, _s.c.data)
        .join(_s, _s.c.id == _c.c.submission_id)
        .where(_c.c.ok.is_(True), _s.c.submitted_at == _c.c.submitted_at)
        .order_by(_c.c.id)
    ).all()
    if not rows:
        return []
    published = {
        (r.kind, r.period)
        for r in conn.execute(select(_pub.c.kind, _pub.c.period).where(_pub.c.kind.in_([ST_SHEET, ST_FULL])))
    }
    units = {r.id: r.name for r in conn.execute(select(_o.c.id, _o.c.name))}
    programmes = {r.id: r.name for r in conn.execute(select(_prog.c.id, _prog.c.name))}
    latest = {row.report_number: row for row in rows}  # a re-checked version replaces the earlier one
    out: list[ReadyReport] = []
    for row in latest.values():
        project = conn.execute(select(_p).where(_p.c.id == row.project_id)).one()
        data = dict(row.data or {})
        rep = build_report(
            data,
            project=project,
            programme=programmes.get(project.programme_id, ""),
            unit=units.get(project.undertaking_unit_id, ""),
            seq=row.seq,
            number=row.report_number,
        )
        released = row.release_on is None or row.release_on <= now
        if rep.deferred and (ST_SHEET, rep.report_number) not in published and not released:
            out.append(ReadyReport(ST_SHEET, rep))
        if released and (ST_FULL, rep.report_number) not in published:
            out.append(ReadyReport(ST_FULL, rep))
    return out


def checks_of_project(conn: Connection, project_id: int) -> dict[int, Any]:
    """Each report (by sequence number) of the project with the check of its latest submitted
    version: what its unit reads beside the report (passed with its number, or returned and why)."""
    latest = (
        select(_c.c.seq, func.max(_c.c.id).label("id")).where(_c.c.project_id == project_id).group_by(_c.c.seq)
    ).subquery()
    rows = conn.execute(select(_c).join(latest, latest.c.id == _c.c.id)).all()
    return {int(r.seq): r for r in rows}


def check_outcome(check: Any, submitted_at: datetime | None) -> Text | None:
    """What the formal check said of the version handed in at ``submitted_at`` (``check`` being the
    latest check of that report, from ``checks_of_project``); None before any version was handed in."""
    if submitted_at is None:
        return None
    if check is None or check.submitted_at != submitted_at:
        return Text("待形式审查", "awaiting the formal check")
    if check.ok:
        return Text(f"形式审查通过，报告编号 {check.report_number}", f"passed the formal check: {check.report_number}")
    problems = [Text(p.get("zh", ""), p.get("en", "")) for p in check.problems or []]
    return Text(
        "退回修改：" + "；".join(p.zh for p in problems), "returned for revision: " + "; ".join(p.en for p in problems)
    )


def latest_checks(conn: Connection, *, limit: int = 50) -> list[Any]:
    """The most recent checks, for the office page (returned reports with their reasons)."""
    return list(
        conn.execute(
            select(_c, _p.c.code, _p.c.title).join(_p, _p.c.id == _c.c.project_id).order_by(_c.c.id.desc()).limit(limit)
        ).all()
    )
