"""Publishing, exactly once per kind, programme and period, even when retried or killed half-way.

1. ``claim`` the key in its own commit (a second run stops here; a crashed run's claim is taken
   over when its lease runs out).
2. Assemble the data and render the documents; extract their text and run the content guard.
   A hit blocks the publication with the findings (audited) until the office overrides it with
   a reason (audited too).
3. Stage the PDFs under ``.staging/<claim token>/`` (never listed, never served).
4. ``record`` in one transaction: the documents with their SHA-256, the audit event naming them,
   the audit head after it, the deliveries to the S&T reporting system.
5. Move the staged files to their public names (atomic renames), rebuild manifest, index and
   feed, mark the row published.

A run killed before step 4 leaves only staged files, removed by the run that takes over; killed
after it, the next run finds the recorded hashes and finishes the moves. Readers only ever see
complete files, and only files the database records as published.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pypdf import PdfReader
from sqlalchemy import Engine, select

from grantflow.config import Settings
from grantflow.db import audit
from grantflow.db.models import Programme, table
from grantflow.reports import documents, layout, outputs
from grantflow.reports.documents import Document
from grantflow.services import disclosures, publications, st_reports
from grantflow.services.publications import DocumentRecord
from grantflow.states.disclosure import (
    DISCLOSURE_KINDS,
    KIND_LABELS,
    PUBLISH_FORBIDDEN,
    ST_FULL,
    ST_SHEET,
    Period,
    may_publish,
    not_ended,
)
from grantflow.states.errors import Forbidden, GrantflowError, NotFound, PayloadInvalid
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.text import Text

log = logging.getLogger(__name__)
_prog = table(Programme)

Scanner = Callable[[str], Any]
"""The content guard's ``scan(text) -> report`` (``report.ok``, ``report.findings``)."""


class GuardMissing(GrantflowError):
    """Nothing is published unchecked: without the content guard, publication refuses to run."""

    code = "guard_missing"


def default_scanner() -> Scanner:
    """The content guard shipped with grantflow."""
    try:
        from grantflow.reports.guard import scan
    except ImportError as exc:
        raise GuardMissing(
            Text(
                "内容安全检查模块（grantflow.reports.guard）未安装，不能发布",
                "the content guard (grantflow.reports.guard) is not installed: nothing is published unchecked",
            )
        ) from exc
    return scan


def finding_dict(finding: Any) -> dict[str, Any]:
    """A finding as stored and shown: whatever the guard reports, kept as plain JSON."""
    if hasattr(finding, "as_dict"):
        finding = finding.as_dict()
    elif hasattr(finding, "__dataclass_fields__"):
        finding = {k: getattr(finding, k) for k in finding.__dataclass_fields__}
    if not isinstance(finding, dict):
        finding = {"passage": str(finding)}
    return dict(json.loads(json.dumps(finding, ensure_ascii=False, default=str)))


def pdf_text(pdf: bytes) -> str:
    """The text a reader can extract: what the guard checks is what the public gets."""
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


@dataclass
class Outcome:
    kind: str
    programme_id: int
    period: str
    status: str  # published | already | busy | blocked | failed
    publication_id: int | None = None
    documents: list[DocumentRecord] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    message: Text | None = None
    anchor: audit.AnchorRecord | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "programme_id": self.programme_id,
            "period": self.period,
            "status": self.status,
            "publication_id": self.publication_id,
            "documents": [d.__dict__ for d in self.documents],
            "findings": self.findings,
            "audit_head": (
                {"event_id": self.anchor.event_id, "hash": self.anchor.hash} if self.anchor is not None else None
            ),
        }


@dataclass(frozen=True)
class Rendered:
    name: str
    title: str
    doc: Document


def _programme(engine: Engine, programme: int | str) -> Any:
    """A programme by its code (1–12)."""
    code = str(programme).strip()
    row = None
    if code.isascii() and code.isdigit() and len(code) <= 4:
        with engine.connect() as conn:
            row = conn.execute(select(_prog).where(_prog.c.code == int(code))).one_or_none()
    if row is None:
        shown = code[:40]
        raise NotFound(Text(f"专项 {shown} 不存在", f"programme {shown} does not exist"))
    return row


def disclosure_name(programme_code: int, kind: str, period: str) -> str:
    return f"ZX{programme_code:02d}/{kind}/ZX{programme_code:02d}-{kind}-{period}.pdf"


def report_name(programme_code: int, kind: str, number: str) -> str:
    suffix = "-sheet" if kind == ST_SHEET else ""
    return f"ZX{programme_code:02d}/st_reports/{number}{suffix}.pdf"


def _publish(
    engine: Engine,
    settings: Settings,
    *,
    kind: str,
    programme_id: int,
    period_key: str,
    now: datetime,
    actor: Actor,
    render: Callable[[datetime], list[Rendered]],
    scanner: Scanner | None,
    after_render: Callable[[], None] | None,
    project_id: int | None = None,
) -> Outcome:
    root = settings.publications_dir
    root.mkdir(parents=True, exist_ok=True)
    lease = timedelta(seconds=settings.publish_lease_s)
    c = publications.claim(
        engine, kind=kind, programme_id=programme_id, period=period_key, now=now, lease=lease, project_id=project_id
    )
    out = Outcome(kind, programme_id, period_key, "", c.publication_id)
    if not c.ours:
        out.status = {"published": "already", "blocked": "blocked"}.get(c.status, "busy")
        return out
    token = c.token
    assert token is not None
    try:
        if c.status == publications.RECORDED:
            # a run died after recording: its files are staged or in place; finish the moves
            with engine.connect() as conn:
                docs = publications.documents_of(conn, c.publication_id)
            old_tokens = (
                [d.name for d in (root / outputs.STAGING).glob("*")] if (root / outputs.STAGING).is_dir() else []
            )
            for d in docs:
                for t in [token, *old_tokens]:
                    if (outputs.staging_dir(root, t) / d.name).exists():
                        outputs.move_into_place(root, t, d.name, d.sha256)
                        break
                else:
                    outputs.move_into_place(root, token, d.name, d.sha256)
            out.documents = [DocumentRecord(d.name, d.title, d.sha256, d.size, d.pages) for d in docs]
        else:
            outputs.clean_staging(root, keep=_live_tokens(engine, now))
            rendered = render(c.issued_at)
            scan = scanner or default_scanner()
            findings: list[dict[str, Any]] = []
            for r in rendered:
                report = scan(pdf_text(r.doc.pdf))
                if not report.ok:
                    findings.extend({"document": r.name, **finding_dict(f)} for f in report.findings)
            if findings and not c.overridden:
                publications.block(
                    engine, publication_id=c.publication_id, token=token, findings=findings, now=now, actor=actor
                )
                out.status, out.findings = "blocked", findings
                return out
            out.findings = findings
            records = []
            for r in rendered:
                outputs.stage(root, token, r.name, r.doc.pdf)
                records.append(
                    DocumentRecord(r.name, r.title, hashlib.sha256(r.doc.pdf).hexdigest(), len(r.doc.pdf), r.doc.pages)
                )
            if after_render is not None:
                after_render()
            out.anchor = publications.record(
                engine,
                publication_id=c.publication_id,
                token=token,
                kind=kind,
                period=period_key,
                title=rendered[0].title if rendered else period_key,
                documents=records,
                now=now,
                actor=actor,
                submit=bool(settings.strs_endpoint),
                overridden=c.overridden and bool(findings),
            )
            for rec in records:
                outputs.move_into_place(root, token, rec.name, rec.sha256)
            out.documents = records
        publications.finish(engine, publication_id=c.publication_id, token=token, now=now)
        outputs.write_outputs(engine, root, now=now, base_url=settings.publish_base_url)
        outputs.clean_staging(root, keep=_live_tokens(engine, now))
        out.status = "published"
        return out
    except publications.LostClaim:
        out.status = "busy"
        return out
    except Exception as exc:
        log.exception("publishing %s %s %s failed", kind, programme_id, period_key)
        publications.fail(engine, publication_id=c.publication_id, token=token, error=repr(exc), now=now)
        raise


def _live_tokens(engine: Engine, now: datetime) -> set[str]:
    """Tokens of claims still running: their staged files must stay."""
    from grantflow.db.models import Publication

    p = table(Publication)
    with engine.connect() as conn:
        return {
            r.token
            for r in conn.execute(
                select(p.c.token).where(p.c.status.in_([publications.CLAIMED, publications.RECORDED]))
            )
        }


def publish_disclosure(
    engine: Engine,
    settings: Settings,
    *,
    kind: str,
    programme: int | str,
    period: str,
    now: datetime,
    actor: Actor = SYSTEM,
    scanner: Scanner | None = None,
    executor: Executor | None = None,
    after_render: Callable[[], None] | None = None,
) -> Outcome:
    """Publish one disclosure of one programme (by code) for one period; exactly once."""
    if not may_publish(actor):
        raise Forbidden([PUBLISH_FORBIDDEN])
    if kind not in DISCLOSURE_KINDS:
        raise PayloadInvalid(
            Text(
                f"未知的公开类别“{kind}”，可选：{'、'.join(DISCLOSURE_KINDS)}",
                f"unknown disclosure kind '{kind}'; known: {', '.join(DISCLOSURE_KINDS)}",
            )
        )
    try:
        p = Period.parse(period)
    except ValueError as exc:
        raise PayloadInvalid(exc.text) from exc  # type: ignore[attr-defined]
    tz = settings.timezone
    if (running := not_ended(p, now, tz)) is not None:
        raise PayloadInvalid(running)
    prog = _programme(engine, programme)

    def render(issued_at: datetime) -> list[Rendered]:
        with engine.connect() as conn:
            d = disclosures.assemble(conn, kind=kind, programme_id=prog.id, period=p, tz=tz)
        number = f"ZX{prog.code:02d}-{kind}-{p.key}"
        doc = documents.disclosure_pdf(
            d,
            issued_at=issued_at.astimezone(ZoneInfo(tz)),
            number=number,
            variant=settings.publish_pdf_variant or None,
            executor=executor,
        )
        return [Rendered(disclosure_name(prog.code, kind, p.key), d.title.zh, doc)]

    return _publish(
        engine,
        settings,
        kind=kind,
        programme_id=prog.id,
        period_key=p.key,
        now=now,
        actor=actor,
        render=render,
        scanner=scanner,
        after_render=after_render,
    )


def publish_reports(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    actor: Actor = SYSTEM,
    scanner: Scanner | None = None,
) -> dict[str, Any]:
    """Check newly submitted S&T reports, then publish what is ready: the basic-information sheet of
    a deferred report, the full text of a public one, and a deferred one's full text on its release date."""
    if not may_publish(actor):
        raise Forbidden([PUBLISH_FORBIDDEN])
    tz = settings.timezone
    with engine.begin() as conn:
        checked = st_reports.check_submitted(conn, now=now, tz=tz)
    with engine.connect() as conn:
        ready = st_reports.ready_to_publish(conn, now=now)
        codes = {r.id: r.code for r in conn.execute(select(_prog.c.id, _prog.c.code))}
    results = []
    for item in ready:
        rep = item.report

        def render(issued_at: datetime, rep: st_reports.StReport = rep, kind: str = item.kind) -> list[Rendered]:
            doc = documents.st_report_pdf(
                rep,
                issued_at=issued_at.astimezone(ZoneInfo(tz)),
                sheet_only=kind == ST_SHEET,
                variant=settings.publish_pdf_variant or None,
            )
            title = f"{rep.title}（{KIND_LABELS[kind].zh}）"
            return [Rendered(report_name(codes[rep.programme_id], kind, rep.report_number), title, doc)]

        outcome = _publish(
            engine,
            settings,
            kind=item.kind,
            programme_id=rep.programme_id,
            period_key=rep.report_number,
            now=now,
            actor=actor,
            render=render,
            scanner=scanner,
            after_render=None,
            project_id=rep.project_id,
        )
        results.append(outcome.as_dict())
    return {"checked": checked.as_dict(), "published": results, "ready": len(ready)}


def publish_due(
    engine: Engine,
    settings: Settings,
    *,
    kind: str,
    now: datetime,
    actor: Actor = SYSTEM,
    scanner: Scanner | None = None,
) -> dict[str, Any]:
    """What a scheduled run does: every launched programme's last completed period of this kind,
    and, oldest first, the earlier periods it still owes (the office page's due list): a run that
    did not happen (no worker for a month) is made good by the next, not left to be noticed."""
    from grantflow.states.disclosure import DEFAULT_GRANULARITY, last_completed

    period = last_completed(now, DEFAULT_GRANULARITY[kind], settings.timezone)
    with engine.connect() as conn:
        programmes = publications.launched_programmes(conn)
        owed = publications.due(
            conn,
            now=now,
            tz=settings.timezone,
            granularity=DEFAULT_GRANULARITY,
            since=settings.publish_since,
            kinds=(kind,),
        )
    executor = layout.pool(settings.publish_workers) if programmes and settings.publish_workers > 1 else None
    out = []
    for prog, _launched in programmes:
        earlier = {d.period.key: d.period for d in owed if d.programme_id == prog.id}
        periods = sorted({**earlier, period.key: period}.values(), key=lambda p: p.first_day)
        for p in periods:
            outcome = publish_disclosure(
                engine,
                settings,
                kind=kind,
                programme=prog.code,
                period=p.key,
                now=now,
                actor=actor,
                scanner=scanner,
                executor=executor,
            )
            out.append(outcome.as_dict())
    return {"kind": kind, "period": period.key, "outcomes": out}


__all__ = [
    "ST_FULL",
    "Outcome",
    "Scanner",
    "default_scanner",
    "publish_disclosure",
    "publish_due",
    "publish_reports",
]
