"""What every `grantflow` command shares: one language for its messages, and one place where a
domain error or a bad value becomes a clear line instead of a traceback.

The language is ``--lang`` given before the command (``grantflow --lang en demo``), else a
command's own ``--lang``, else ``GRANTFLOW_LANGUAGE`` (default Chinese).
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError
from typer.core import TyperGroup

from grantflow.config import ConfigurationError, get_settings
from grantflow.states.errors import GrantflowError
from grantflow.states.text import Lang, Text, normalise_lang

err = Console(stderr=True, highlight=False)


class _Chosen:
    lang: str | None = None


def use_lang(value: str | None) -> None:
    """The language chosen on the command line (before or after the command name)."""
    if value:
        _Chosen.lang = normalise_lang(value)


def start_command(lang: str | None) -> None:
    """At the start of each invocation: the global ``--lang``, or none (forget an earlier run's)."""
    _Chosen.lang = normalise_lang(lang) if lang else None


def cli_lang(explicit: str | None = None) -> Lang:
    chosen = explicit or _Chosen.lang
    if chosen:
        return normalise_lang(chosen)
    try:
        return normalise_lang(get_settings().language)
    except ConfigurationError:
        # the error being reported may be the configuration itself: its language setting, if any
        return normalise_lang(os.environ.get("GRANTFLOW_LANGUAGE", ""))


def say_error(text: Text | str, lang: str | None = None) -> None:
    err.print(f"[red]{text.get(lang or cli_lang()) if isinstance(text, Text) else text}[/red]")


def fail(text: Text | str, *, code: int = 2, lang: str | None = None) -> NoReturn:
    say_error(text, lang)
    raise typer.Exit(code=code)


class GrantflowGroup(TyperGroup):
    """The top-level group: catches what a command lets through and says it in one line."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except GrantflowError as exc:
            fail(exc.message)
        except ConfigurationError as exc:
            fail(exc.message)
        except OverflowError:
            fail(Text("数字超出范围（编号最大为 2^63-1）", "a number is out of range (ids go up to 2^63-1)"))
        except (ValueError, UnicodeError) as exc:  # a value the command could not read (a date, JSON, a number)
            fail(Text(f"输入有误：{exc}", f"invalid input: {exc}"))
        except DBAPIError as exc:
            fail(database_problem(exc))


def database_problem(exc: DBAPIError) -> Text:
    """A database error in one line: most often a schema this version has not migrated yet (the
    package was upgraded, ``grantflow db upgrade`` not run), else the driver's own first line."""
    from grantflow.db.migrate import is_up_to_date
    from grantflow.db.session import get_engine

    try:
        behind = not is_up_to_date(get_engine())
    except Exception:  # the database cannot even be asked: say what the driver said
        behind = False
    if behind:
        return Text(
            "数据库结构落后于当前版本：请先运行 grantflow db upgrade",
            "the database schema is older than this version of grantflow: run `grantflow db upgrade` first",
        )
    first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    return Text(f"数据库无法使用：{first}", f"the database could not be used: {first}")
