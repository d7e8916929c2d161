"""The Python half of ``scripts/scale-out.sh``: seed the story, drive the clients, run the flows
through the workers, and check the database afterwards.

    python scripts/scale_out.py seed   --plan PLAN.json [--submissions N] [--reminders M]
    python scripts/scale_out.py submit --plan PLAN.json --url http://127.0.0.1:PORT [--concurrency C]
    python scripts/scale_out.py flows  --plan PLAN.json --deployment NAME/grantflow ... [--timeout S]
    python scripts/scale_out.py check  --plan PLAN.json --proxy-stats STATS.json --worker-log W1 --worker-log W2

Every sub-command reads its configuration from the environment exactly as grantflow does
(``GRANTFLOW_DATABASE_URL``, ``GRANTFLOW_HOME``, ``PREFECT_API_URL``) and records what it did
in the plan file, so that ``check`` can compare what the database holds with what was done.

The seed reuses the test suite's factories (``tests/factories.py``: a call, projects, a project
driven to execution through the workflow table), so it runs from a checkout of the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.factories: the suite's way of building subjects through the engine

from sqlalchemy import func, select  # noqa: E402

from grantflow import clock  # noqa: E402
from grantflow.config import get_settings  # noqa: E402
from grantflow.db.session import get_engine  # noqa: E402
from tests.conftest import People  # noqa: E402 - the demo people as actors, as the suite has them

APPLICANTS = {
    "applicant": "pi@jinghua.example.com",
    "applicant2": "pi@yanyuan.example.edu",
    "applicant3": "pi@cies.example.cn",
}


def load(plan: Path) -> dict[str, Any]:
    return json.loads(plan.read_text()) if plan.exists() else {}


def save(plan: Path, data: dict[str, Any]) -> None:
    plan.write_text(json.dumps(data, indent=1, default=str))


# --- seed ----------------------------------------------------------------------------------------


def seed(args: argparse.Namespace) -> int:
    """Programmes 7 and 1 launched (they owe disclosures), an open call with draft projects for the
    clients to submit, projects in execution with a report due in three days (reminders), and a
    published call whose opening time has passed (the deadline sweep opens it)."""
    from grantflow.db.models import Programme
    from grantflow.services.deadlines import set_report_schedule
    from tests.factories import drive, launch_programme, make_call, make_project

    engine = get_engine(get_settings())
    people = People(engine)
    now = clock.now()  # flows act at the moment they run, so the story is set at the real time
    launched = [launch_programme(engine, people, now, code) for code in (7, 1)]
    with engine.connect() as conn:
        codes = dict(conn.execute(select(Programme.id, Programme.code).where(Programme.id.in_(launched))).all())
    call_id = make_call(engine, people, now, closes_in=timedelta(days=30))
    owners = list(APPLICANTS)
    drafts = []
    for i in range(args.submissions):
        who = owners[i % len(owners)]
        pid = make_project(engine, people, now, call_id=call_id, applicant=who, title=f"横向扩展测试项目{i + 1}")
        partner = people[owners[(i + 1) % len(owners)]].organisation_id  # a partner other than the applicant
        drafts.append({"project_id": pid, "email": APPLICANTS[who], "partner_org": partner})
    reminded = []
    exec_call = make_call(engine, people, now, closes_in=timedelta(days=30))
    for i in range(args.reminders):
        who = owners[i % len(owners)]
        pid = make_project(engine, people, now, call_id=exec_call, applicant=who, title=f"执行中项目{i + 1}")
        drive(engine, people, pid, "in_execution", now)
        with engine.begin() as conn:  # due in just under three days: the 3-day reminder is due now
            set_report_schedule(
                conn,
                project_id=pid,
                form_key="progress_report",
                kind="one_off",
                first_due=now + timedelta(days=2, hours=23),
                now=now,
                tz=get_settings().timezone,
            )
        reminded.append(pid)
    opening = make_call(engine, people, now, open_call=False)
    data = load(args.plan) | {
        "seeded_at": now.isoformat(),
        "programmes": [{"id": p, "code": codes[p]} for p in launched],
        "drafts": drafts,
        "reminded_projects": reminded,
        "opening_call": opening,
    }
    save(args.plan, data)
    print(
        f"seeded: {len(launched)} launched programmes, {len(drafts)} draft projects in call {call_id}, "
        f"{len(reminded)} projects with a report due in 3 days, call {opening} due to open"
    )
    return 0


# --- clients -------------------------------------------------------------------------------------


def proposal(partner_org: int, n: int) -> dict[str, Any]:
    """The suite's complete proposal, titled per client so each submission can be told apart."""
    from tests.test_forms_store import proposal as complete

    return {**complete(partner_org), "project_title": f"工业机器人精密减速器研发（{n}）"}


def submit_one(url: str, draft: dict[str, Any], password: str, n: int) -> dict[str, Any]:
    """One applicant, as a browser: sign in, fetch the CSRF token, submit the proposal.

    ``Connection: close`` makes every request a new TCP connection, so the proxy sends the
    sign-in, the token fetch and the submission to different web processes in turn: the session
    and its token must hold across processes (they live in the shared database and secret).
    """
    import httpx

    headers = {"Connection": "close"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def token() -> str:
            return str(client.get("/api/session").json()["csrf_token"])

        r = client.post(
            "/login",
            data={"email": draft["email"], "password": password, "next": "/"},
            headers={"X-CSRF-Token": token()},
            follow_redirects=False,
        )
        if r.status_code != 303:
            return {**draft, "ok": False, "status": r.status_code, "error": r.text[:300]}
        body = {"data": proposal(draft["partner_org"], n), "submit": True}
        r = client.post(
            f"/api/projects/{draft['project_id']}/forms/proposal", json=body, headers={"X-CSRF-Token": token()}
        )
        out = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        return {
            **draft,
            "ok": r.status_code == 200 and bool(out.get("submitted")),
            "status": r.status_code,
            "submission_id": out.get("submission_id"),
            "error": None if r.status_code == 200 else r.text[:300],
        }


def submit(args: argparse.Namespace) -> int:
    from grantflow.services.seed import DEMO_PASSWORD

    data = load(args.plan)
    drafts = data["drafts"]
    started = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(lambda d: submit_one(args.url, d[1], DEMO_PASSWORD, d[0] + 1), enumerate(drafts)))
    took = time.monotonic() - started
    failed = [r for r in results if not r["ok"]]
    data["submitted"] = results
    save(args.plan, data)
    print(
        f"clients: {len(results) - len(failed)}/{len(results)} proposals submitted through {args.url} in {took:.1f} s"
    )
    for r in failed[:5]:
        print(f"  FAILED project {r['project_id']} ({r['email']}): HTTP {r['status']} {r['error']}")
    return 1 if failed else 0


# --- flows through the workers -------------------------------------------------------------------

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


async def _run_flows(deployments: list[str], timeout: float) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    # timeout=0: create the runs and return at once, so they are all queued together and the two
    # workers race for them (as scheduled runs would)
    runs = [await run_deployment(name, timeout=0) for name in deployments]  # type: ignore[misc]
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            states = {r.id: await client.read_flow_run(r.id) for r in runs}
            if all(s.state_type is not None and s.state_type.value in FINAL for s in states.values()):
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1)  # polling another process, not waiting for a deadline
    out = []
    for name, r in zip(deployments, runs, strict=True):
        state = states[r.id].state_type
        out.append({"deployment": name, "id": str(r.id), "name": states[r.id].name, "state": state and state.value})
    return out


def flows(args: argparse.Namespace) -> int:
    started = time.monotonic()
    runs = asyncio.run(_run_flows(args.deployment, args.timeout))
    took = time.monotonic() - started
    data = load(args.plan)
    data["flow_runs"] = runs
    save(args.plan, data)
    for r in runs:
        print(f"flow run {r['name']} ({r['deployment']}, {r['id']}): {r['state']}")
    bad = [r for r in runs if r["state"] != "COMPLETED"]
    print(f"flows: {len(runs) - len(bad)}/{len(runs)} completed in {took:.1f} s")
    return 1 if bad else 0


# --- check ---------------------------------------------------------------------------------------


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)


def check(args: argparse.Namespace) -> int:
    from grantflow.db.models import (
        AuditEvent,
        Call,
        InboxMessage,
        OutboxMessage,
        Publication,
        PublicationDocument,
        Submission,
    )
    from grantflow.states.enums import SubmissionStatus

    data = load(args.plan)
    settings = get_settings()
    engine = get_engine(settings)
    c = Checker()
    print("--- check ---")

    # the web: both processes served, and every client's proposal is stored exactly once
    stats = json.loads(args.proxy_stats.read_text())["connections"]
    print("web processes (connections through the proxy): " + ", ".join(f"{k}={v}" for k, v in stats.items()))
    c.expect(len(stats) >= 2 and all(v > 0 for v in stats.values()), f"not every web process served: {stats}")
    served = {}
    for log in args.web_log or []:
        served[log.name] = len(re.findall(r'"POST /api/projects/\d+/forms/proposal HTTP/1.1" 200', log.read_text()))
    if served:
        print("proposals accepted per web process (access logs): " + ", ".join(f"{k}={v}" for k, v in served.items()))
        c.expect(all(v > 0 for v in served.values()), f"a web process accepted no submission: {served}")
    planned = [d["project_id"] for d in data["drafts"]]
    with engine.connect() as conn:
        rows = conn.execute(
            select(Submission.project_id, Submission.id, Submission.status)
            .where(Submission.form_key == "proposal", Submission.project_id.in_(planned))
            .order_by(Submission.project_id)
        ).all()
    per_project = Counter(r.project_id for r in rows)
    print(f"submissions: {len(rows)} stored for {len(planned)} clients")
    for r in rows:
        print(f"  submission {r.id}: project {r.project_id} proposal {r.status}")
    c.expect(all(per_project[p] == 1 for p in planned), f"submissions per project not exactly one: {per_project}")
    c.expect(all(r.status == SubmissionStatus.SUBMITTED for r in rows), "a stored proposal is not submitted")
    reported = {r["project_id"]: r.get("submission_id") for r in data.get("submitted", [])}
    stored = {r.project_id: r.id for r in rows}
    c.expect(reported == stored, "the submission ids the clients were given differ from the stored ones")

    # the workers: every run completed, and runs were taken by both workers
    runs = data.get("flow_runs", [])
    took: dict[str, list[str]] = {}
    for log in args.worker_log or []:
        text = log.read_text(errors="replace")
        # the run's own output, printed by the worker that started it: "View at .../flow-run/ID"
        took[log.name] = [
            f"{r['deployment'].split('/')[0]} {r['id'][:8]}" for r in runs if f"flow-run/{r['id']}" in text
        ]
    print("flow runs per worker: " + "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in took.items()))
    c.expect(bool(runs) and all(r["state"] == "COMPLETED" for r in runs), f"flow runs not all completed: {runs}")
    ran = Counter(name for names in took.values() for name in names)
    c.expect(
        not took or all(ran[f"{r['deployment'].split('/')[0]} {r['id'][:8]}"] == 1 for r in runs),
        f"a flow run was not run by exactly one worker: {ran}",
    )
    if args.require_both_workers:
        c.expect(len(took) >= 2 and all(took.values()), f"not every worker ran a flow: {took}")

    # the deadline sweep: the due call opened exactly once, by a flow run
    with engine.connect() as conn:
        opened = conn.execute(
            select(AuditEvent.channel, AuditEvent.channel_detail)
            .where(AuditEvent.subject == "call", AuditEvent.subject_id == data["opening_call"])
            .where(AuditEvent.action == "open")
        ).all()
        call_state = conn.execute(select(Call.state).where(Call.id == data["opening_call"])).scalar_one()
    print(f"deadline sweep: call {data['opening_call']} now '{call_state}', opened {len(opened)} time(s)")
    for o in opened:
        print(f"  by {o.channel}: {o.channel_detail}")
    c.expect(
        len(opened) == 1 and opened[0].channel == "flow", f"the call was not opened exactly once by a flow: {opened}"
    )

    # reminders: one outbox message per project, one inbox message per recipient
    reminded = data["reminded_projects"]
    with engine.connect() as conn:
        outbox = conn.execute(
            select(OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.status)
            .where(OutboxMessage.kind == "reminder.due_soon", OutboxMessage.subject_id.in_(reminded))
            .order_by(OutboxMessage.subject_id)
        ).all()
        inbox = conn.execute(
            select(InboxMessage.outbox_id, InboxMessage.user_id, func.count())
            .where(InboxMessage.outbox_id.in_([o.id for o in outbox]))
            .group_by(InboxMessage.outbox_id, InboxMessage.user_id)
        ).all()
    per_reminded = Counter(o.subject_id for o in outbox)
    print(f"reminders: {len(outbox)} outbox messages for {len(reminded)} projects due in 3 days")
    delivered = Counter(i.outbox_id for i in inbox)
    for o in outbox:
        print(
            f"  outbox {o.id}: project {o.subject_id} reminder.due_soon {o.status}, inbox to {delivered[o.id]} user(s)"
        )
    c.expect(all(per_reminded[p] == 1 for p in reminded), f"reminders per project not exactly one: {per_reminded}")
    c.expect(all(i[2] == 1 for i in inbox), "a reminder reached someone's inbox more than once")
    c.expect(all(delivered[o.id] >= 1 for o in outbox), "a reminder reached nobody's inbox")

    # publication: one publication and one document per launched programme, the file in the shared store
    progs = [p["id"] for p in data["programmes"]]
    with engine.connect() as conn:
        pubs = conn.execute(
            select(Publication.id, Publication.programme_id, Publication.kind, Publication.period, Publication.status)
            .where(Publication.programme_id.in_(progs), Publication.kind == "establishment")
            .order_by(Publication.programme_id)
        ).all()
        docs = conn.execute(
            select(PublicationDocument).where(PublicationDocument.publication_id.in_([p.id for p in pubs]))
        ).all()
    per_prog = Counter(p.programme_id for p in pubs)
    print(f"publications: {len(pubs)} for {len(progs)} launched programmes, {len(docs)} documents")
    by_pub = Counter(d.publication_id for d in docs)
    for p in pubs:
        print(f"  publication {p.id}: programme {p.programme_id} {p.kind} {p.period} {p.status}, {by_pub[p.id]} doc(s)")
    for d in docs:
        path = settings.publications_dir / d.name
        ok = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == d.sha256
        found = "matches" if ok else "MISSING/DIFFERS"
        print(f"  document {d.id}: {d.name} {d.size} bytes, {d.pages} page(s), file {found}")
        c.expect(ok, f"document {d.name} missing from the shared store or its hash differs")
    c.expect(all(per_prog[p] == 1 for p in progs), f"publications per programme not exactly one: {per_prog}")
    c.expect(all(p.status == "published" for p in pubs), "a publication is not published")
    c.expect(all(by_pub[p.id] == 1 for p in pubs), f"documents per publication not exactly one: {by_pub}")

    summary = {
        "submissions": len(rows),
        "clients": len(planned),
        "reminders": len(outbox),
        "reminded_projects": len(reminded),
        "publications": len(pubs),
        "documents": len(docs),
        "calls_opened": len(opened),
        "flow_runs": len(runs),
        "web_connections": stats,
        "problems": len(c.problems),
    }
    for p in c.problems:
        print(f"MISMATCH: {p}")
    print("SCALE-OUT " + json.dumps(summary, sort_keys=True))
    return 1 if c.problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="scripts/scale-out.sh's seed, clients, flows and checks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed")
    p.add_argument("--plan", type=Path, required=True)
    p.add_argument("--submissions", type=int, default=36)
    p.add_argument("--reminders", type=int, default=6)
    p = sub.add_parser("submit")
    p.add_argument("--plan", type=Path, required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--concurrency", type=int, default=8)
    p = sub.add_parser("flows")
    p.add_argument("--plan", type=Path, required=True)
    p.add_argument("--deployment", action="append", required=True, help="FLOW/grantflow (repeat; twice races)")
    p.add_argument("--timeout", type=float, default=240)
    p = sub.add_parser("check")
    p.add_argument("--plan", type=Path, required=True)
    p.add_argument("--proxy-stats", type=Path, required=True)
    p.add_argument("--web-log", type=Path, action="append")
    p.add_argument("--worker-log", type=Path, action="append")
    p.add_argument("--require-both-workers", action="store_true")
    args = parser.parse_args()
    return {"seed": seed, "submit": submit, "flows": flows, "check": check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
