"""The lifecycle drawn from its table by ``transitions``' own diagram support.

Mermaid is pure text (the README embeds it; a test checks it matches the table). Graphviz
output (SVG, PNG) needs the ``dot`` program from Debian's ``graphviz`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import pairwise
from typing import Any, ClassVar

from transitions.extensions import GraphMachine

from grantflow.states.workflow import Workflow, trigger_label


class _Sheet:
    """The model a diagram machine needs; drawing never touches a stored subject."""


class _LabelledState(GraphMachine.state_cls):  # type: ignore[misc,name-defined,valid-type]
    def __init__(self, *args: Any, label: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = label


class _DiagramMachine(GraphMachine):
    state_cls = _LabelledState
    state_attributes: ClassVar[list[str]] = [*GraphMachine.state_attributes, "label"]  # type: ignore[misc]


def _machine(wf: Workflow, engine: str, lang: str, path: Sequence[str] = (), names: bool = True) -> Any:
    sheet = _Sheet()
    sep = "<br/>" if engine == "mermaid" else "\n"
    states = [
        {"name": s.name, "label": f"{s.name}{sep}{s.label.get(lang)}" if names else s.label.get(lang)}
        for s in wf.states.values()
    ]
    transitions = []
    seen: set[tuple[str, str, str]] = set()
    for t in wf.transitions:
        if (t.trigger, t.source, t.dest) not in seen:
            seen.add((t.trigger, t.source, t.dest))
            transitions.append({"trigger": t.trigger, "source": t.source, "dest": t.dest})
    machine = _DiagramMachine(
        model=sheet,
        states=states,
        transitions=transitions,
        initial=wf.initial,
        auto_transitions=False,
        graph_engine=engine,  # type: ignore[arg-type]  # checked by the caller: mermaid or graphviz
        title=f"{wf.name}: {wf.label.get(lang)}",
        show_conditions=False,
        show_state_attributes=False,
    )
    graph = sheet.get_graph()  # type: ignore[attr-defined]
    if not path:
        return graph
    # a subject's own drawing: the states it went through and the steps between them in the
    # "previous" style, where it stands now in the "active" one (transitions' own styles)
    styles = machine.model_graphs[id(sheet)]
    styles.reset_styling()
    known = set(wf.states)
    for src, dst in pairwise(path):
        if src != dst and src in known and dst in known:
            styles.set_previous_transition(src, dst)
    if path[-1] in known:
        styles.set_node_style(path[-1], "active")
    return sheet.get_graph()  # type: ignore[attr-defined]


def mermaid(wf: Workflow, *, lang: str = "en") -> str:
    text: str = _machine(wf, "mermaid", lang).draw(None)
    return text.rstrip() + "\n"


def render(wf: Workflow, *, fmt: str = "svg", lang: str = "en", path: Sequence[str] = (), names: bool = True) -> bytes:
    """SVG or PNG bytes via Graphviz ``dot``; with ``path`` (the states a subject went through,
    oldest first) that path and its last state are highlighted. ``names=False`` labels states in
    ``lang`` only, and (SVG) the steps too: the drawing for readers rather than for the table's authors."""
    data: bytes = _machine(wf, "graphviz", lang, path, names).draw(None, format=fmt, prog="dot")
    if names or fmt != "svg":
        return data
    text = data.decode("utf-8")
    for trigger in {t.trigger for t in wf.transitions}:
        text = text.replace(f">{trigger}</text>", f">{escape(trigger_label(trigger).get(lang))}</text>")
    return text.encode("utf-8")
