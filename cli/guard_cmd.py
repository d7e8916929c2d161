"""``grantflow guard FILE...``: the content guard on text files, as publication runs it.

Exit codes: 0 when every file is clean, 1 when anything is suspicious (the report names each
passage with file:line), 2 when a file cannot be read or the rules are wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text as RichText

from grantflow.cli.common import cli_lang
from grantflow.reports.guard import TEXT_SUFFIXES, Finding, GuardReport, RulesError, load_rules, scan_file
from grantflow.states.text import Text

KIND_LABELS = {
    "spam": Text("垃圾内容", "spam"),
    "link": Text("链接", "link"),
    "stuffing": Text("关键词堆砌", "keyword stuffing"),
    "swap": Text("词语被替换", "swapped word"),
}


def _files(paths: list[Path]) -> list[Path]:
    """The files named, and the text files under the directories named (sorted, for stable output)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES))
        else:
            out.append(path)
    return out


def _finding_lines(finding: Finding, lang: str) -> list[RichText]:
    head = RichText()
    head.append(finding.location, style="bold")
    head.append(f"  {KIND_LABELS[finding.kind].get(lang)} · {finding.rule}  ", style="yellow")
    head.append(finding.reason.get(lang))
    body = RichText("    ")
    passage = finding.passage
    at = passage.find(finding.match) if finding.match else -1
    if at >= 0:
        body.append(passage[:at])
        body.append(finding.match, style="bold red reverse")
        body.append(passage[at + len(finding.match) :])
    else:
        body.append(passage)
    return [head, body]


def guard(
    files: Annotated[list[Path], typer.Argument(help="text, markdown or HTML files, or directories of them")],
    lang: Annotated[str, typer.Option("--lang", help="zh or en (default: GRANTFLOW_LANGUAGE)")] = "",
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="another rules file (default: the rules shipped with grantflow)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the reports as JSON")] = False,
) -> None:
    """Check text files for tampering (injected spam, links, keyword stuffing, swapped words)."""
    language = cli_lang(lang or None)
    out = Console(soft_wrap=True, highlight=False)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        rules = load_rules(rules_file) if rules_file is not None else None
    except RulesError as exc:
        err.print(RichText(exc.text(language), style="red"))
        raise typer.Exit(code=2) from exc
    reports: list[GuardReport] = []
    unreadable: list[Text] = []
    for path in _files(files):
        try:
            reports.append(scan_file(path, rules=rules))
        except (OSError, UnicodeDecodeError) as exc:
            problem = getattr(exc, "strerror", None) or str(exc)
            unreadable.append(Text(f"无法读取 {path}：{problem}", f"cannot read {path}: {problem}"))
    if as_json:
        out.print_json(json.dumps([r.as_dict() for r in reports], ensure_ascii=False))
    else:
        for report in reports:
            if report.ok:
                continue
            out.print(RichText(report.summary().get(language), style="bold red"))
            for finding in report.findings:
                for line in _finding_lines(finding, language):
                    out.print(line)
    for problem in unreadable:
        err.print(RichText(problem.get(language), style="red"))
    suspicious = sum(len(r.findings) for r in reports)
    if unreadable:
        raise typer.Exit(code=2)
    if suspicious:
        if not as_json:
            out.print(
                RichText(
                    Text(
                        f"内容检查未通过：{len(reports)} 个文件中有 {suspicious} 处可疑内容",
                        f"guard failed: {suspicious} suspicious passage(s) in {len(reports)} file(s)",
                    ).get(language),
                    style="bold red",
                )
            )
        raise typer.Exit(code=1)
    if not as_json:
        out.print(
            Text(f"未发现可疑内容（已检查 {len(reports)} 个文件）", f"clean: {len(reports)} file(s) checked").get(
                language
            )
        )


def register(app: typer.Typer) -> None:
    app.command("guard")(guard)
