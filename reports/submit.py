"""Delivery of published documents to the external S&T reporting system.

Each published document gets a delivery row when an endpoint is configured
(``GRANTFLOW_STRS_ENDPOINT`` and ``GRANTFLOW_STRS_TOKEN``). A run posts every due delivery:
the PDF and its metadata as multipart form data, with the document's SHA-256 as the
``Idempotency-Key`` so the receiving system can recognise a repeat. A failed attempt is retried
a few times at once with a short backoff, then later with a growing delay
(``next_attempt_at``); after ``strs_max_attempts`` the delivery is marked failed for the office.
The receipt the system returns is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select, update

from grantflow.config import Settings
from grantflow.db.models import Programme, Publication, PublicationDocument, PublicationSubmission, table

_sub = table(PublicationSubmission)
_doc = table(PublicationDocument)
_pub = table(Publication)
_prog = table(Programme)

QUICK_RETRIES = 3
QUICK_BACKOFF_S = (0.2, 0.5, 1.0)
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def later_delay(attempts: int) -> timedelta:
    """Delay before the next run tries again: 1, 2, 4 … minutes, at most a day."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 24 * 60))


@dataclass
class SubmitReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "errors": self.errors[:20]}


class Rejected(Exception):
    """The system refused the document for good (4xx other than the retryable ones)."""


def _post(client: httpx.Client, settings: Settings, meta: dict[str, Any], pdf: bytes) -> dict[str, Any]:
    response = client.post(
        str(settings.strs_endpoint),
        headers={"Authorization": f"Bearer {settings.strs_token or ''}", "Idempotency-Key": meta["sha256"]},
        data={"metadata": json.dumps(meta, ensure_ascii=False)},
        files={"file": (meta["name"].rsplit("/", 1)[-1], pdf, "application/pdf")},
    )
    if response.status_code in RETRYABLE:
        raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
    if response.status_code >= 400:
        raise Rejected(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        receipt = response.json()
    except ValueError:
        receipt = {"body": response.text[:2000]}
    return {"status": response.status_code, **(receipt if isinstance(receipt, dict) else {"body": receipt})}


def submit_pending(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SubmitReport:
    """Post every delivery due at ``now``; each outcome is recorded in its own commit."""
    report = SubmitReport()
    if not settings.strs_endpoint:
        return report
    with engine.connect() as conn:
        due = conn.execute(
            select(
                _sub.c.id,
                _sub.c.attempts,
                _doc.c.name,
                _doc.c.title,
                _doc.c.sha256,
                _doc.c.size,
                _doc.c.pages,
                _pub.c.kind,
                _pub.c.period,
                _pub.c.published_at,
                _prog.c.code,
            )
            .join(_doc, _doc.c.id == _sub.c.document_id)
            .join(_pub, _pub.c.id == _doc.c.publication_id)
            .join(_prog, _prog.c.id == _pub.c.programme_id)
            .where(_sub.c.status == "pending", _sub.c.next_attempt_at <= now, _pub.c.status == "published")
            .order_by(_sub.c.id)
        ).all()
    own = client is None
    http = client or httpx.Client(timeout=settings.strs_timeout_s)
    try:
        for row in due:
            meta = {
                "name": row.name,
                "title": row.title,
                "sha256": row.sha256,
                "size": row.size,
                "pages": row.pages,
                "kind": row.kind,
                "programme": row.code,
                "period": row.period,
                "published_at": row.published_at.isoformat() if row.published_at else None,
            }
            pdf = (settings.publications_dir / row.name).read_bytes()
            attempts = row.attempts
            receipt: dict[str, Any] | None = None
            error = ""
            permanent = False
            for quick in range(QUICK_RETRIES):
                attempts += 1
                try:
                    receipt = _post(http, settings, meta, pdf)
                    break
                except Rejected as exc:
                    error, permanent = str(exc), True
                    break
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    if quick < QUICK_RETRIES - 1:
                        sleep(QUICK_BACKOFF_S[quick])
            with engine.begin() as conn:
                if receipt is not None:
                    conn.execute(
                        update(_sub)
                        .where(_sub.c.id == row.id)
                        .values(status="sent", attempts=attempts, receipt=receipt, sent_at=now, last_error=None)
                    )
                    report.sent += 1
                elif permanent or attempts >= settings.strs_max_attempts:
                    conn.execute(
                        update(_sub)
                        .where(_sub.c.id == row.id)
                        .values(status="failed", attempts=attempts, last_error=error)
                    )
                    report.failed += 1
                    report.errors.append(f"{row.name}: {error}")
                else:
                    conn.execute(
                        update(_sub)
                        .where(_sub.c.id == row.id)
                        .values(attempts=attempts, last_error=error, next_attempt_at=now + later_delay(attempts))
                    )
                    report.retrying += 1
                    report.errors.append(f"{row.name}: {error}")
    finally:
        if own:
            http.close()
    return report
