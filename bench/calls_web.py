"""Time what an applicant's web pages cost: the list of open calls, a call's page, the "my
deadlines" calendar feed, and the project page's lifecycle drawing (uncached and cached).

    python bench/calls_web.py                            # 500 calls, 1,000 due items
    python bench/calls_web.py --calls 5000 --items 10000

The database (SQLite file, the demo people) is filled with bulk inserts as fixture data: open
calls of programme 7 with eligibility rules, projects of the demo applicant's unit, each with
due items, and some drafts in open calls (whose closing dates the feed carries). Each figure is
the best of five after a warm-up; the pages go through the real app (HTTP in process). Ends with
one JSON line of figures and targets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icalendar import Calendar
from sqlalchemy import insert, select

from grantflow.db.models import Call, DueItem, Programme, Project, User
from grantflow.db.session import make_engine
from grantflow.db.workflows import get_registry
from grantflow.services.bootstrap import init_database
from grantflow.services.calendar import feed, issue_token
from grantflow.services.calls import open_calls
from grantflow.services.lifecycle_view import graphviz_available, lifecycle_svg
from grantflow.states.enums import Category, SelectionMode, SupportMode

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
APPLICANT = "pi@jinghua.example.com"
# the feed's cost is the icalendar library's (~0.6 ms an event); a calendar app polls it every few hours
TARGETS = {"list_page_ms": 100.0, "call_page_ms": 50.0, "feed_ms_per_event": 1.0, "diagram_cached_ms": 1.0}


def best(fn: Callable[[], Any], runs: int = 5) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def build(path: Path, *, calls: int, items: int) -> tuple[Any, int]:
    engine = make_engine(f"sqlite:///{path}")
    init_database(engine, demo=True)
    registry = get_registry()
    accepting = registry.get("call").states_where(lambda s: s.accepting)[0]
    draft = registry.get("standard").states_where(lambda s: s.applying)[0]
    active = registry.get("standard").states_where(lambda s: s.active)[0]
    with engine.begin() as conn:
        programme = conn.execute(select(Programme.id).where(Programme.code == 7)).scalar_one()
        user_id, unit = conn.execute(select(User.id, User.organisation_id).where(User.email == APPLICANT)).one()
        call_rows = [
            {
                "programme_id": programme,
                "title": f"测试指南 {i}",
                "title_en": f"Test call {i}",
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "support_modes": [SupportMode.COMPETITIVE],
                "eligibility": {"unit_types": ["enterprise", "university"], "regions": ["北京市"]},
                "opens_at": NOW - timedelta(days=1),
                "closes_at": NOW + timedelta(days=10 + i % 50),
                "workflow": "call",
                "state": accepting,
            }
            for i in range(calls)
        ]
        conn.execute(insert(Call), call_rows)
        call_ids = list(conn.execute(select(Call.id).order_by(Call.id)).scalars())
        projects = max(1, items // 4)
        project_rows = [
            {
                "code": f"ZXB-{i:06d}",
                "title": f"项目 {i}",
                "call_id": call_ids[i % len(call_ids)],
                "programme_id": programme,
                "undertaking_unit_id": unit,
                "principal_investigator_id": user_id,
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "workflow": "standard",
                "state": draft if i % 10 == 0 else active,
            }
            for i in range(projects)
        ]
        conn.execute(insert(Project), project_rows)
        pids = list(conn.execute(select(Project.id)).scalars())
        conn.execute(
            insert(DueItem),
            [
                {
                    "key": f"bench:{i}",
                    "kind": "report",
                    "subject": "project",
                    "subject_id": pids[i % len(pids)],
                    "form_key": "midterm_report",
                    "period": i // len(pids) + 1,
                    "due_at": NOW + timedelta(days=i % 400),
                    "status": "open",
                    "created_at": NOW,
                }
                for i in range(items)
            ],
        )
    return engine, user_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args(argv)
    saved = {name: os.environ.get(name) for name in ("GRANTFLOW_HOME", "GRANTFLOW_SECRET_KEY")}
    try:
        return _run(args)
    finally:  # leave the caller's environment as it was (a test may run this in its own process)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GRANTFLOW_HOME"] = tmp
        os.environ.setdefault("GRANTFLOW_SECRET_KEY", "bench-only-secret-key-not-for-production-use")
        start = time.perf_counter()
        engine, user_id = build(Path(tmp) / "grantflow.db", calls=args.calls, items=args.items)
        print(f"built {args.calls} open calls, {args.items} due items in {time.perf_counter() - start:.1f} s")

        with engine.connect() as conn:
            page_service = best(lambda: open_calls(conn, page=1, size=20))
            last = max(1, -(-args.calls // 20))
            last_service = best(lambda: open_calls(conn, page=last, size=20))
        print(f"open_calls: first page {page_service:.1f} ms, page {last} {last_service:.1f} ms")

        from fastapi.testclient import TestClient

        from grantflow.config import get_settings
        from grantflow.web.app import create_app

        get_settings.cache_clear()  # GRANTFLOW_HOME was set above
        client = TestClient(create_app(migrate=False))
        first_call = engine.connect().execute(select(Call.id).order_by(Call.id)).scalars().first()
        list_page = best(lambda: client.get("/calls"))
        deep_page = best(lambda: client.get(f"/calls?page={last}"))
        call_page = best(lambda: client.get(f"/calls/{first_call}"))
        print(f"GET /calls {list_page:.1f} ms, /calls?page={last} {deep_page:.1f} ms, /calls/ID {call_page:.1f} ms")

        with engine.begin() as conn:
            token = issue_token(conn, user_id=user_id, now=NOW)
        with engine.connect() as conn:
            body = feed(conn, user_id=user_id, now=NOW, base_url="http://localhost/")
            feed_service = best(lambda: feed(conn, user_id=user_id, now=NOW, base_url="http://localhost/"))
        events = len(Calendar.from_ical(body).walk("VEVENT"))
        feed_http = best(lambda: client.get(f"/calendar/{token}.ics"))
        print(f"feed of {events} events: built {feed_service:.1f} ms, GET .ics {feed_http:.1f} ms")

        path = ("draft", "submitted", "under_review", "commissioning", "in_execution")  # a typical path so far
        uncached = cached = None
        if graphviz_available():
            lifecycle_svg.cache_clear()
            start = time.perf_counter()
            lifecycle_svg("standard", path, "zh")
            uncached = (time.perf_counter() - start) * 1000
            cached = best(lambda: lifecycle_svg("standard", path, "zh"), runs=1000)
            print(f"lifecycle diagram: drawn {uncached:.0f} ms, from the cache {cached * 1000:.1f} us")
        else:
            print("lifecycle diagram: Graphviz absent (the page lists the states instead)")
    figures = {
        "bench": "calls_web",
        "calls": args.calls,
        "items": args.items,
        "open_calls_first_ms": round(page_service, 2),
        "open_calls_last_ms": round(last_service, 2),
        "list_page_ms": round(list_page, 2),
        "list_last_page_ms": round(deep_page, 2),
        "call_page_ms": round(call_page, 2),
        "feed_events": events,
        "feed_ms": round(feed_service, 2),
        "feed_http_ms": round(feed_http, 2),
        "feed_ms_per_event": round(feed_service / max(events, 1), 3),
        "diagram_uncached_ms": None if uncached is None else round(uncached, 1),
        "diagram_cached_ms": None if cached is None else round(cached, 4),
        "targets": TARGETS,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
