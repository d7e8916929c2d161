"""`grantflow backup PATH` and `grantflow restore PATH` (the work is in services/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from grantflow.cli.common import cli_lang, fail, use_lang
from grantflow.services.backup import MAIN_TABLES, BackupRefused, Manifest, RestoreRefused, backup, restore
from grantflow.states.text import Text

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: GRANTFLOW_LANGUAGE)")]


def _ordered(tables: dict[str, int]) -> list[str]:
    """The main tables first, then the rest by name."""
    main = [t for t in MAIN_TABLES if t in tables]
    return main + sorted(t for t in tables if t not in MAIN_TABLES)


def _summary(manifest: Manifest, lang: str) -> None:
    head = manifest.audit_head
    console.print(
        Text(
            f"数据库：{manifest.dialect}，迁移版本 {manifest.alembic_revision}；"
            f"审计链头：第 {head.get('id')} 号事件 {head.get('hash', '')}",
            f"database: {manifest.dialect}, Alembic revision {manifest.alembic_revision}; "
            f"audit head: event {head.get('id')} {head.get('hash', '')}",
        ).get(lang),
        soft_wrap=True,
    )
    size = sum(int(e["size"]) for e in manifest.files.values())
    console.print(
        Text(
            f"{len(manifest.files)} 个文件，共 {size:,} 字节，均记录了 SHA-256",
            f"{len(manifest.files)} files, {size:,} bytes, each with its SHA-256",
        ).get(lang)
    )


def register(app: typer.Typer) -> None:
    @app.command("backup")
    def backup_cmd(
        path: Annotated[Path, typer.Argument(help="an absent or empty directory to write the backup into")],
        lang: LangOpt = "",
    ) -> None:
        """A consistent copy while the system runs: database, file store, keys, anchors, publications,
        and manifest.json (checksums, row counts, Alembic revision, audit head)."""
        use_lang(lang or None)
        language = cli_lang()
        try:
            manifest = backup(path, on_step=lambda t: console.print(f"  {t.get(language)}"))
        except BackupRefused as exc:
            fail(exc.message, lang=language)
        except (OSError, SQLAlchemyError) as exc:  # a disk full, a database gone: one line, no traceback
            fail(
                Text(f"备份失败（目录已清空）：{exc}", f"backup failed (the directory was emptied): {exc}"),
                lang=language,
            )
        table = Table(title=Text("备份时的行数", "rows as of the backup").get(language))
        table.add_column(Text("表", "table").get(language))
        table.add_column(Text("行数", "rows").get(language), justify="right")
        for name in MAIN_TABLES:
            if name in manifest.tables:
                table.add_row(name, str(manifest.tables[name]))
        others = [n for n in manifest.tables if n not in MAIN_TABLES]
        table.add_row(
            Text(f"（其他 {len(others)} 张表）", f"({len(others)} other tables)").get(language),
            str(sum(manifest.tables[n] for n in others)),
        )
        console.print(table)
        _summary(manifest, language)
        console.print(
            Text(f"备份完成：{path.resolve()}", f"backup written: {path.resolve()}").get(language), soft_wrap=True
        )

    @app.command("restore")
    def restore_cmd(
        path: Annotated[Path, typer.Argument(help="a directory written by `grantflow backup`")],
        lang: LangOpt = "",
    ) -> None:
        """Check every checksum, then restore into an empty GRANTFLOW_HOME; verify the audit chain and
        compare every table's row count with the manifest (exit 1 when they differ)."""
        use_lang(lang or None)
        language = cli_lang()
        try:
            report = restore(path, on_step=lambda t: console.print(f"  {t.get(language)}"))
        except RestoreRefused as exc:
            fail(exc.message, lang=language)
        except (OSError, SQLAlchemyError) as exc:
            fail(
                Text(
                    f"恢复失败（已撤回写入的文件）：{exc}", f"restore failed (what it had written was removed): {exc}"
                ),
                lang=language,
            )
        table = Table(title=Text("行数核对", "row counts").get(language))
        for col in (Text("表", "table"), Text("清单", "manifest"), Text("恢复后", "restored"), Text("", "")):
            table.add_column(col.get(language), justify="left" if not col.zh or col.zh == "表" else "right")
        mismatches = report.count_mismatches
        for name in _ordered(report.manifest.tables):
            got = report.restored_tables.get(name)
            mark = Text("相符", "match") if name not in mismatches else Text("不符", "DIFFERS")
            table.add_row(name, str(report.manifest.tables[name]), "—" if got is None else str(got), mark.get(language))
        console.print(table)
        _summary(report.manifest, language)
        if report.audit_ok:
            console.print(
                Text(
                    f"审计链校验通过：{report.audit_checked} 条事件",
                    f"audit verify passed: {report.audit_checked} events",
                ).get(language)
            )
        else:
            for problem in report.audit_problems:
                err.print(f"[red]{problem.get(language)}[/red]", soft_wrap=True)
            err.print(f"[red]{Text('审计链未通过校验', 'audit verify FAILED').get(language)}[/red]")
        if mismatches:
            err.print(
                "[red]"
                + Text(
                    f"{len(mismatches)} 张表的行数与清单不符：{', '.join(mismatches)}",
                    f"{len(mismatches)} table(s) differ from the manifest: {', '.join(mismatches)}",
                ).get(language)
                + "[/red]"
            )
        if not report.ok:
            raise typer.Exit(code=1)
        console.print(
            Text(
                "恢复完成，行数与清单一致。如迁移版本较旧，请运行 `grantflow db upgrade`。",
                "restore complete; counts match the manifest. If the revision is older, run `grantflow db upgrade`.",
            ).get(language)
        )
