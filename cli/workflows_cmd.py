"""`grantflow workflows show NAME`: a variant's effective table, states with what each allows and
transitions with their labels in both languages, as the engine will use it (validated on load)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from grantflow.states.attributes import StateDef
from grantflow.states.deadlines import form_label, stage_label
from grantflow.states.workflow import Workflow

FLAGS = ("active", "applying", "bids", "ranked", "accepting", "terminal")  # not a workflow state


def _editable(state: StateDef, lang: str) -> str:
    return "\n".join(f"{form_label(form).get(lang)} ({form}): {', '.join(who)}" for form, who in state.editable.items())


def _review(state: StateDef, lang: str) -> str:
    lines = []
    for name, stages in (
        ("counts", (state.review_stage,) if state.review_stage else ()),
        ("assigns", state.assign_stages),
        ("decided", state.decided_stages),
    ):
        if stages:
            lines.append(f"{name}: " + ", ".join(f"{stage_label(s).get(lang)} ({s})" for s in stages))
    return "\n".join(lines)


def states_table(wf: Workflow, lang: str) -> Table:
    table = Table(title=f"{wf.name}: {wf.label.zh} / {wf.label.en} — states (initial: {wf.initial})", show_lines=True)
    for col in ("state", "label", "editable forms: by", "review stages", "viewers", "reminders", "flags"):
        table.add_column(col)
    for s in wf.states.values():
        table.add_row(
            s.name,
            f"{s.label.zh}\n{s.label.en}",
            _editable(s, lang),
            _review(s, lang),
            ", ".join(s.viewers),
            ", ".join(s.reminders),
            ", ".join(flag for flag in FLAGS if getattr(s, flag)),
        )
    return table


def transitions_table(wf: Workflow) -> Table:
    table = Table(title=f"{wf.name}: transitions", show_lines=True)
    for col in ("trigger", "label", "from", "to", "who", "guards", "requires", "notify", "effects"):
        table.add_column(col)
    for t in wf.transitions:
        who = ", ".join(t.who) + ("\n(not who scored it)" if t.separate_from_scorers else "")
        table.add_row(
            t.trigger,
            f"{t.label.zh}\n{t.label.en}",
            t.source,
            t.dest,
            who,
            ", ".join(t.guards),
            ", ".join(t.requires),
            ", ".join(t.notify),
            ", ".join(t.effects),
        )
    return table


def show(wf: Workflow, console: Console, lang: str) -> None:
    if wf.base:
        console.print(f"variant of [bold]{wf.base}[/bold]")
    console.print(states_table(wf, lang))
    console.print(transitions_table(wf))
