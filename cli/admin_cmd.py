"""`grantflow orgs …` and `grantflow users …`: the office registers organisations and people,
and keeps the qualifications units hold (``orgs qualify`` / ``unqualify`` / ``qualifications``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from grantflow import clock
from grantflow.cli.channels import cli_channel
from grantflow.cli.common import cli_lang
from grantflow.db.models import Organisation, User, UserRole
from grantflow.db.session import get_engine, session_scope
from grantflow.services.actors import actor_for
from grantflow.services.passwords import hash_password
from grantflow.services.qualifications import find_unit, grant, qualifications_of, revoke
from grantflow.services.signin import set_password
from grantflow.states.enums import OrgKind, Role
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import Actor
from grantflow.states.text import clean_line, normalise_lang

orgs_app = typer.Typer(help="organisations (units, departments, evaluators)")
users_app = typer.Typer(help="people and their roles")
console = Console()
err = Console(stderr=True)


@orgs_app.command("add")
def orgs_add(
    name: str,
    kind: Annotated[OrgKind, typer.Option(help="kind of organisation")],
    name_en: Annotated[str | None, typer.Option(help="English name")] = None,
    region: Annotated[str | None, typer.Option(help="registered region")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="e-mail domain (repeatable)")] = None,
) -> None:
    """Register an organisation."""
    name, name_en = clean_line(name), clean_line(name_en) if name_en else None
    with session_scope(get_engine()) as session:
        if session.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
            err.print(f"[red]组织已存在 / organisation exists: {name}[/red]")
            raise typer.Exit(2)
        org = Organisation(name=name, name_en=name_en, kind=kind.value, region=region, email_domains=domain or [])
        session.add(org)
        session.flush()
        console.print(f"organisation {org.id}: {name}")


@orgs_app.command("list")
def orgs_list() -> None:
    table = Table()
    for col in ("id", "name", "kind", "region"):
        table.add_column(col)
    with session_scope(get_engine()) as session:
        for o in session.scalars(select(Organisation).order_by(Organisation.id)):
            table.add_row(str(o.id), o.name, o.kind, o.region or "")
    console.print(table)


# --- qualifications -----------------------------------------------------------------------------

AsOpt = Annotated[str, typer.Option("--as", help="e-mail of the user acting")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: the user's language)")]
T = TypeVar("T")


def _day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{option} 应为日期，如 2027-12-31 / {option} must be a date like 2027-12-31: {value!r}"
        ) from None


def _acting(as_: str, lang: str, work: Callable[[Actor, str], T]) -> T:
    """Resolve the actor, run the work, and print a refusal in the person's language."""
    language = cli_lang(lang or None)
    try:
        with get_engine().connect() as conn:
            actor = actor_for(conn, email=as_).via(cli_channel())
        language = normalise_lang(lang or actor.lang)
        return work(actor, language)
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(language)}[/red]")
        raise typer.Exit(code=2) from None


@orgs_app.command("qualify")
def orgs_qualify(
    org: Annotated[str, typer.Argument(help="organisation id or exact name")],
    code: Annotated[str, typer.Argument(help="qualification code, e.g. high_tech_enterprise")],
    as_: AsOpt,
    until: Annotated[str | None, typer.Option("--until", help="last valid day (YYYY-MM-DD); none: open-ended")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first valid day (YYYY-MM-DD); none: at once")] = None,
    note: Annotated[str, typer.Option(help="note, e.g. the certificate number")] = "",
    lang: LangOpt = "",
) -> None:
    """Record (or renew) a qualification a unit holds, from its certificate (the office)."""
    last = _day(until, "--until")
    first = _day(from_, "--from")

    def work(actor: Actor, language: str) -> None:
        with get_engine().begin() as conn:
            unit = find_unit(conn, org)
            grant(
                conn,
                organisation_id=unit.id,
                code=code,
                valid_from=first,
                valid_until=last,
                note=note,
                actor=actor,
                now=clock.now(),
            )
        until_text = last.isoformat() if last else ("长期有效" if language == "zh" else "open-ended")
        console.print(
            f"已登记：{unit.name.zh} {code}（有效期至 {until_text}）"
            if language == "zh"
            else f"recorded: {unit.name.en} holds {code} (valid until {until_text})"
        )

    _acting(as_, lang, work)


@orgs_app.command("unqualify")
def orgs_unqualify(
    org: Annotated[str, typer.Argument(help="organisation id or exact name")],
    code: Annotated[str, typer.Argument(help="qualification code")],
    as_: AsOpt,
    reason: Annotated[str, typer.Option(help="why it is revoked")] = "",
    lang: LangOpt = "",
) -> None:
    """Revoke a unit's qualification at once (the office); it stops counting for eligibility."""

    def work(actor: Actor, language: str) -> None:
        with get_engine().begin() as conn:
            unit = find_unit(conn, org)
            revoke(conn, organisation_id=unit.id, code=code, reason=reason, actor=actor, now=clock.now())
        console.print(f"已撤销：{unit.name.zh} {code}" if language == "zh" else f"revoked: {code} of {unit.name.en}")

    _acting(as_, lang, work)


@orgs_app.command("qualifications")
def orgs_qualifications(
    org: Annotated[str, typer.Argument(help="organisation id or exact name")],
    as_: AsOpt,
    lang: LangOpt = "",
) -> None:
    """List a unit's qualifications, with their validity and whether each counts today."""

    def work(actor: Actor, language: str) -> None:
        with get_engine().connect() as conn:
            unit = find_unit(conn, org)
            rows = qualifications_of(conn, organisation_id=unit.id, actor=actor, now=clock.now())
        zh = language == "zh"
        table = Table(title=unit.name.get(language))
        heads = (
            ("代码", "资质", "起始日", "截止日", "状态", "备注")
            if zh
            else ("code", "qualification", "from", "until", "standing", "note")
        )
        for i, col in enumerate(heads):
            # codes and days stay whole; names and notes wrap in a narrow terminal
            whole = i in (0, 2, 3, 4)
            table.add_column(col, no_wrap=whole, overflow="ellipsis" if whole else "fold")
        for q in rows:
            note = q.note
            if q.revoked_at is not None and q.revoked_reason:
                note = f"{note} ({q.revoked_reason})".strip()
            table.add_row(
                q.code,
                q.label.get(language),
                q.valid_from.isoformat() if q.valid_from else "—",
                q.valid_until.isoformat() if q.valid_until else "—",
                q.standing_label.get(language),
                note,
            )
        console.print(table)
        if not rows:
            console.print("尚未登记任何资质" if zh else "no qualifications recorded")

    _acting(as_, lang, work)


@users_app.command("add")
def users_add(
    email: str,
    name: Annotated[str, typer.Option(help="display name")],
    org: Annotated[int, typer.Option(help="organisation id")],
    role: Annotated[list[Role], typer.Option(help="role (repeatable)")],
    language: Annotated[str, typer.Option(help="zh or en")] = "zh",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Register a person with one or more roles in an organisation."""
    name = clean_line(name)
    with session_scope(get_engine()) as session:
        if session.get(Organisation, org) is None:
            err.print(f"[red]组织 {org} 不存在 / organisation {org} does not exist[/red]")
            raise typer.Exit(2)
        if session.scalar(select(User.id).where(User.email == email.lower())) is not None:
            err.print(f"[red]用户已存在 / user exists: {email}[/red]")
            raise typer.Exit(2)
        user = User(
            email=email.lower(),
            name=name,
            organisation_id=org,
            language=language,
            password_hash=hash_password(password),
            roles=[UserRole(role=r.value) for r in role],
        )
        session.add(user)
        session.flush()
        console.print(f"user {user.id}: {email} ({', '.join(r.value for r in role)})")


@users_app.command("passwd")
def users_passwd(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a person's password."""
    with get_engine().begin() as conn:
        user_id = conn.execute(select(User.id).where(User.email == email.strip().lower())).scalar_one_or_none()
        if user_id is None:
            err.print(f"[red]用户不存在 / no such user: {email}[/red]")
            raise typer.Exit(2)
        # an office reset may be any length; every sign-in of that person ends
        ended = set_password(conn, user_id=user_id, password=password, now=clock.now(), check=False)
    console.print(f"password changed; {ended} sign-in(s) ended")
