"""`grantflow review …`: calls by selection mode, eligibility, panels, assignment, reviews,
ranking, batch decisions, sealed bids and complaints, on behalf of a user (``--as``).

Every command goes through the same ``db`` functions as the web page, so a sealed bid is as
unreadable here as anywhere else before its opening time.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grantflow import clock
from grantflow.cli.channels import cli_channel
from grantflow.cli.common import cli_lang, use_lang
from grantflow.db.session import get_engine
from grantflow.services.actors import actor_for
from grantflow.services.calls import apply_to_call, create_call
from grantflow.services.complaints import answer_complaint, complaints_for, file_complaint
from grantflow.services.eligibility import check, submit_checked
from grantflow.services.exports import BID_HEADER, bid_rows
from grantflow.services.review import (
    Decision,
    assign,
    assign_batch,
    create_panel,
    decide_batch,
    declare_conflict,
    ranking,
    reviews_for,
    submit_review,
)
from grantflow.services.tenders import open_bids, open_due_bids, read_bid, read_bids, require_open, submit_bid
from grantflow.states.errors import GrantflowError
from grantflow.states.lifecycle import DEFAULT_QUORUM
from grantflow.states.permissions import Actor

review_app = typer.Typer(help="eligibility, selection modes, sealed bids, expert review, complaints (评审)")
console = Console()
err = Console(stderr=True)

AsOpt = Annotated[str, typer.Option("--as", help="e-mail of the user acting")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: the user's language)")]


def _who(email: str) -> Actor:
    """The user named by ``--as``, acting through the command line (recorded with the OS user)."""
    with get_engine().connect() as conn:
        return actor_for(conn, email=email).via(cli_channel())


def _lang(value: str, actor: Actor | None = None) -> str:
    # one language for every message: this command's --lang, else the global one, else GRANTFLOW_LANGUAGE
    use_lang(value)
    return cli_lang()


def _run(lang: str, work: Any) -> Any:
    try:
        return work()
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(lang)}[/red]")
        raise typer.Exit(code=2) from None


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- calls and eligibility ------------------------------------------------------------------------


@review_app.command("call-create")
def call_create(
    as_: AsOpt,
    programme: Annotated[int, typer.Option(help="programme id")],
    title: Annotated[str, typer.Option(help="title (Chinese)")],
    category: Annotated[str, typer.Option(help="organised, supported or encouraged")],
    mode: Annotated[str, typer.Option(help="directed, merit or tender")],
    support: Annotated[list[str], typer.Option(help="support mode (repeatable)")],
    opens: Annotated[str, typer.Option(help="opening time, ISO (UTC if no offset)")],
    closes: Annotated[str, typer.Option(help="deadline, ISO")],
    quorum: Annotated[int, typer.Option(help="reviews needed per item")] = DEFAULT_QUORUM,
    max_per_unit: Annotated[
        int, typer.Option("--max-applications-per-unit", help="applications one unit may make in this call")
    ] = 1,
    eligibility: Annotated[str, typer.Option(help="eligibility rules as JSON")] = "{}",
    designated: Annotated[int | None, typer.Option(help="designated unit id (directed commission)")] = None,
    bids_open: Annotated[str | None, typer.Option(help="bid-opening time, ISO (public tender)")] = None,
    lang: LangOpt = "",
) -> None:
    """Create a call; its category limits its selection and support modes (every problem shown)."""
    actor = _who(as_)
    language = _lang(lang, actor)

    def work() -> int:
        values: dict[str, Any] = {
            "programme_id": programme,
            "title": title,
            "category": category,
            "selection_mode": mode,
            "support_modes": support,
            "quorum": quorum,
            "max_applications_per_unit": max_per_unit,
            "eligibility": json.loads(eligibility),
            "opens_at": _dt(opens),
            "closes_at": _dt(closes),
        }
        if designated is not None:
            values["designated_unit_id"] = designated
        with get_engine().begin() as conn:
            return create_call(conn, values=values, actor=actor, now=clock.now(), bids_open_at=_dt(bids_open))

    console.print(f"call {_run(language, work)}")


@review_app.command("apply")
def apply_cmd(as_: AsOpt, call_id: int, title: str, lang: LangOpt = "") -> None:
    """Draft a project of your unit in a call: only while the call accepts applications, when your
    unit meets its eligibility conditions, and no more per unit than the call allows (one unless
    it says otherwise)."""
    actor = _who(as_)

    def work() -> int:
        with get_engine().begin() as conn:
            return apply_to_call(conn, call_id=call_id, actor=actor, title=title, now=clock.now())

    console.print(f"project {_run(_lang(lang, actor), work)}")


@review_app.command("eligibility")
def eligibility_cmd(project_id: int, lang: LangOpt = "") -> None:
    """List every eligibility condition the project's applicant fails (exit 1 if any)."""
    language = _lang(lang)
    with get_engine().connect() as conn:
        reasons = _run(language, lambda: check(conn, project_id=project_id, now=clock.now()))
    if not reasons:
        console.print("符合准入条件" if language == "zh" else "eligible")
        return
    for r in reasons:
        console.print(f"- {r.get(language)}")
    raise typer.Exit(code=1)


@review_app.command("submit")
def submit_cmd(as_: AsOpt, project_id: int, lang: LangOpt = "") -> None:
    """Submit a proposal; a refusal lists every eligibility reason."""
    actor = _who(as_)

    def work() -> Any:
        with get_engine().begin() as conn:
            return submit_checked(conn, project_id=project_id, actor=actor, now=clock.now())

    t = _run(_lang(lang, actor), work)
    console.print(f"project {t.subject_id}: {t.from_state} → {t.to_state}")


# --- panels, assignment, reviews -----------------------------------------------------------------------


@review_app.command("panel")
def panel_cmd(
    as_: AsOpt,
    call_id: int,
    member: Annotated[list[int], typer.Option(help="reviewer user id (repeatable)")],
    stage: Annotated[str, typer.Option(help="concept, proposal, midterm or acceptance")] = "proposal",
    name: Annotated[str, typer.Option(help="panel name")] = "评审专家组",
    tag: Annotated[list[str] | None, typer.Option(help="expertise tag used when an item has none")] = None,
    hide_peers: Annotated[bool, typer.Option(help="reviewers never see each other's reviews")] = False,
    lang: LangOpt = "",
) -> None:
    """Form (or re-form) a call's panel for a stage."""
    actor = _who(as_)

    def work() -> int:
        with get_engine().begin() as conn:
            return create_panel(
                conn,
                call_id=call_id,
                stage=stage,
                name=name,
                members=member,
                actor=actor,
                now=clock.now(),
                tags=tag or (),
                peers_after_submit=not hide_peers,
            )

    console.print(f"panel {_run(_lang(lang, actor), work)}")


def _print_results(results: list[Any], language: str) -> None:
    table = Table()
    for col in ("project", "ok", "result"):
        table.add_column(col)
    for r in results:
        table.add_row(str(r.project_id), "✓" if r.ok else "✗", r.message.get(language))
    console.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


@review_app.command("assign")
def assign_cmd(
    as_: AsOpt,
    project: Annotated[list[int], typer.Option(help="project id (repeatable: a batch)")],
    stage: Annotated[str, typer.Option()] = "proposal",
    reviewer: Annotated[int | None, typer.Option(help="assign this reviewer by hand; omitted: automatically")] = None,
    lang: LangOpt = "",
) -> None:
    """Assign reviewers to items, each item on its own (a failing item does not stop the rest)."""
    actor = _who(as_)
    language = _lang(lang, actor)
    if reviewer is not None and len(project) == 1:

        def work() -> int:
            with get_engine().begin() as conn:
                return assign(
                    conn, project_id=project[0], stage=stage, reviewer_id=reviewer, actor=actor, now=clock.now()
                )

        console.print(f"assignment {_run(language, work)}")
        return
    results = assign_batch(
        get_engine(), project_ids=project, stage=stage, actor=actor, now=clock.now(), reviewer_id=reviewer
    )
    _print_results(results, language)


@review_app.command("conflict")
def conflict_cmd(as_: AsOpt, project_id: int, statement: str, stage: str = "proposal", lang: LangOpt = "") -> None:
    """Declare a conflict of interest on an assigned item: it is reassigned."""
    actor = _who(as_)
    language = _lang(lang, actor)

    def work() -> list[int]:
        with get_engine().begin() as conn:
            return declare_conflict(
                conn, project_id=project_id, stage=stage, reviewer=actor, statement=statement, now=clock.now()
            )

    moved = _run(language, work)
    console.print(
        ("已改派" if language == "zh" else "reassigned")
        if moved
        else ("待办公室改派" if language == "zh" else "the office will reassign")
    )


@review_app.command("score")
def score_cmd(
    as_: AsOpt,
    project_id: int,
    scores: Annotated[str, typer.Option(help='criterion scores as JSON, e.g. {"innovation": 85, ...}')],
    recommendation: Annotated[str, typer.Option(help="support, revise or oppose")],
    comments: Annotated[str, typer.Option(help="review comments")],
    no_conflict: Annotated[
        bool, typer.Option("--no-conflict", help="I state I have no conflict of interest (required)")
    ] = False,
    stage: str = "proposal",
    lang: LangOpt = "",
) -> None:
    """Submit a review with its conflict statement (refused without ``--no-conflict``)."""
    actor = _who(as_)

    def work() -> int:
        with get_engine().begin() as conn:
            return submit_review(
                conn,
                project_id=project_id,
                stage=stage,
                reviewer=actor,
                scores=json.loads(scores),
                recommendation=recommendation,
                comments=comments,
                no_conflict=no_conflict,
                now=clock.now(),
            )

    console.print(f"review {_run(_lang(lang, actor), work)}")


@review_app.command("show")
def show_cmd(as_: AsOpt, project_id: int, stage: str = "proposal", lang: LangOpt = "") -> None:
    """An item's reviews as you may see them (names hidden from applicants)."""
    actor = _who(as_)
    language = _lang(lang, actor)
    with get_engine().connect() as conn:
        rows = _run(language, lambda: reviews_for(conn, project_id=project_id, stage=stage, actor=actor))
    table = Table()
    for col in ("reviewer", "score", "recommendation", "comments"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.label.get(language), str(r.score), r.recommendation or "", r.comments or "")
    console.print(table)


@review_app.command("ranking")
def ranking_cmd(as_: AsOpt, call_id: int, stage: str = "proposal", lang: LangOpt = "") -> None:
    """Items of a call by trimmed mean (mean next); those short of the quorum last, unranked."""
    actor = _who(as_)
    language = _lang(lang, actor)
    with get_engine().connect() as conn:
        rows = _run(language, lambda: ranking(conn, call_id=call_id, stage=stage, actor=actor))
    table = Table()
    for col in ("rank", "project", "code", "state", "reviews", "mean", "trimmed mean"):
        table.add_column(col)
    for r in rows:
        x = r.ranked
        table.add_row(
            str(x.rank or "—"),
            str(r.project_id),
            r.code,
            r.state,
            str(len(x.scores)),
            str(x.mean or "—"),
            str(x.trimmed_mean or "—"),
        )
    console.print(table)


@review_app.command("decide")
def decide_cmd(
    as_: AsOpt,
    approve: Annotated[list[int] | None, typer.Option(help="project to approve (repeatable)")] = None,
    reject: Annotated[list[int] | None, typer.Option(help="project to reject (repeatable)")] = None,
    reason: Annotated[str, typer.Option(help="reason for rejections")] = "",
    lang: LangOpt = "",
) -> None:
    """Gate decisions in a batch, each fired through the engine and audited on its own."""
    actor = _who(as_)
    decisions = [Decision(p, "approve") for p in approve or []] + [Decision(p, "reject", reason) for p in reject or []]
    _print_results(decide_batch(get_engine(), decisions=decisions, actor=actor, now=clock.now()), _lang(lang, actor))


# --- sealed bids --------------------------------------------------------------------------------------------


@review_app.command("bid")
def bid_cmd(as_: AsOpt, project_id: int, file: Path, lang: LangOpt = "") -> None:
    """Seal your bid (a file) for a tender project; prints the receipt digest."""
    actor = _who(as_)

    def work() -> Any:
        with get_engine().begin() as conn:
            return submit_bid(conn, project_id=project_id, content=file.read_bytes(), actor=actor, now=clock.now())

    receipt = _run(_lang(lang, actor), work)
    console.print(f"bid {receipt.bid_id} sealed: sha256 {receipt.ciphertext_sha256}")


@review_app.command("bid-show")
def bid_show_cmd(as_: AsOpt, project_id: int, lang: LangOpt = "") -> None:
    """Print a bid's contents: refused before the bids are opened, for everyone."""
    actor = _who(as_)
    language = _lang(lang, actor)

    def work() -> bytes:
        with get_engine().connect() as conn:
            return require_open(read_bid(conn, project_id=project_id, actor=actor, now=clock.now()))

    sys.stdout.buffer.write(_run(language, work))


@review_app.command("bids-open")
def bids_open_cmd(as_: AsOpt, call_id: int, lang: LangOpt = "") -> None:
    """Open a tender's bids (the office, after the opening time)."""
    actor = _who(as_)

    def work() -> bool:
        with get_engine().begin() as conn:
            return open_bids(conn, call_id=call_id, actor=actor, now=clock.now())

    opened = _run(_lang(lang, actor), work)
    console.print("opened" if opened else "already open")


@review_app.command("open-due-bids")
def open_due_cmd() -> None:
    """Open every tender whose opening time has come (what the deadline flow runs)."""
    console.print(f"opened: {open_due_bids(get_engine(), clock.now())}")


@review_app.command("bids-export")
def bids_export_cmd(
    as_: AsOpt,
    call_id: int,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="CSV file (default: stdout)")] = None,
    lang: LangOpt = "",
) -> None:
    """Export a tender's bids as CSV; refused entirely while they are sealed."""
    actor = _who(as_)
    language = _lang(lang, actor)

    def work() -> list[Any]:
        with get_engine().connect() as conn:
            views = read_bids(conn, call_id=call_id, actor=actor, now=clock.now())
        for v in views:
            require_open(v)
        return views

    views = _run(language, work)
    fh = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    writer = csv.writer(fh)
    writer.writerow(BID_HEADER)
    writer.writerows(bid_rows(views))  # typed text never becomes a spreadsheet formula
    if output:
        fh.close()


# --- complaints ---------------------------------------------------------------------------------------------


@review_app.command("complain")
def complain_cmd(as_: AsOpt, project_id: int, grounds: str, lang: LangOpt = "") -> None:
    """Appeal the latest review outcome of your project (within the configured days)."""
    actor = _who(as_)

    def work() -> int:
        with get_engine().begin() as conn:
            return file_complaint(conn, project_id=project_id, actor=actor, grounds=grounds, now=clock.now())

    console.print(f"complaint {_run(_lang(lang, actor), work)}")


@review_app.command("answer")
def answer_cmd(as_: AsOpt, complaint_id: int, answer: str, lang: LangOpt = "") -> None:
    """Answer a complaint (the office); it is then closed."""
    actor = _who(as_)

    def work() -> None:
        with get_engine().begin() as conn:
            answer_complaint(conn, complaint_id=complaint_id, actor=actor, answer=answer, now=clock.now())

    _run(_lang(lang, actor), work)
    console.print("answered")


@review_app.command("complaints")
def complaints_cmd(as_: AsOpt, lang: LangOpt = "") -> None:
    """List complaints you may see, with the open and closed counts (the same as the page)."""
    actor = _who(as_)
    language = _lang(lang, actor)
    with get_engine().connect() as conn:
        seen = _run(language, lambda: complaints_for(conn, actor=actor))
    table = Table()
    for col in ("id", "project", "decision", "filed", "answered", "grounds", "answer"):
        table.add_column(col)
    for r in seen.rows:
        table.add_row(
            str(r.complaint_id),
            r.project_code,
            r.decision,
            r.filed_at.strftime("%Y-%m-%d"),
            "no" if r.open else "yes",
            r.grounds,
            r.answer or "",
        )
    console.print(table)
    console.print("  ".join(f"{name}: {n}" for name, n in seen.counts.as_dict().items()))
