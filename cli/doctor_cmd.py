"""`grantflow doctor`: every check of services/doctor.py, one line each, with how to fix it."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from grantflow.cli.common import cli_lang, use_lang
from grantflow.services.doctor import MIN_FREE_BYTES, Finding, Status, failed, run
from grantflow.states.text import Text, normalise_lang

console = Console(highlight=False)

LABEL = {
    Status.OK: ("green", Text("正常", "OK")),
    Status.WARN: ("yellow", Text("注意", "WARN")),
    Status.FAIL: ("red", Text("问题", "PROBLEM")),
}


def _language() -> str:
    """The language of the output, even when the configuration (which may name it) cannot be read:
    a broken configuration is exactly what doctor has to report."""
    try:
        return cli_lang()
    except Exception:
        return normalise_lang(os.environ.get("GRANTFLOW_LANGUAGE"))


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_cmd(
        min_free_mb: Annotated[
            int, typer.Option("--min-free-mb", min=0, help="warn when less disk space than this is free")
        ] = MIN_FREE_BYTES // 2**20,
        lang: Annotated[str, typer.Option("--lang", help="zh or en (default: GRANTFLOW_LANGUAGE)")] = "",
    ) -> None:
        """Check configuration, database, keys, CJK fonts, SMTP, Prefect, disk space and the audit chain;
        exit 1 when any check finds a problem."""
        use_lang(lang or None)

        def show(f: Finding) -> None:
            language = _language()
            colour, label = LABEL[f.status]
            found = f"{escape(f.check.get(language))}: {escape(f.detail.get(language))}"
            console.print(f"[{colour}]{label.get(language):<7}[/{colour}] {found}", soft_wrap=True)
            if f.fix is not None and f.status is not Status.OK:
                arrow = Text("    处理：", "    fix: ").get(language)
                console.print(f"{arrow}{escape(f.fix.get(language))}", soft_wrap=True)

        findings = run(min_free=min_free_mb * 2**20, on_finding=show)
        language = _language()
        problems = sum(f.status is Status.FAIL for f in findings)
        warnings = sum(f.status is Status.WARN for f in findings)
        console.print(
            Text(
                f"共 {len(findings)} 项检查：{problems} 项问题，{warnings} 项注意",
                f"{len(findings)} checks: {problems} problem(s), {warnings} warning(s)",
            ).get(language)
        )
        if failed(findings):
            raise typer.Exit(code=1)
