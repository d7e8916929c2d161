"""`grantflow orgs …` and `grantflow users …`: the office registers organisations and people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from grantflow.db.models import Organisation, User, UserRole
from grantflow.db.session import get_engine, session_scope
from grantflow.services.passwords import hash_password
from grantflow.services.signin import set_password
from grantflow.states.enums import OrgKind, Role
from grantflow.states.text import clean_line

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
        ended = set_password(conn, user_id=user_id, password=password, now=datetime.now(UTC), check=False)
    console.print(f"password changed; {ended} sign-in(s) ended")
