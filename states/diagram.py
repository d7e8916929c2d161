"""The lifecycle drawn from its table by ``transitions``' own diagram support.

Mermaid is pure text (the README embeds it; a test checks it matches the table). Graphviz
output (SVG, PNG) needs the ``dot`` program from Debian's ``graphviz`` package.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transitions.extensions import GraphMachine

from grantflow.states.workflow import Workflow


class _Sheet:
    """The model a diagram machine needs; drawing never touches a stored subject."""


class _LabelledState(GraphMachine.state_cls):  # type: ignore[misc,name-defined,valid-type]
    def __init__(self, *args: Any, label: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = label


class _DiagramMachine(GraphMachine):
    state_cls = _LabelledState
    state_attributes: ClassVar[list[str]] = [*GraphMachine.state_attributes, "label"]  # type: ignore[misc]


def _machine(wf: Workflow, engine: str, lang: str) -> Any:
    sheet = _Sheet()
    sep = "<br/>" if engine == "mermaid" else "\n"
    states = [{"name": s.name, "label": f"{s.name}{sep}{s.label.get(lang)}"} for s in wf.states.values()]
    transitions = []
    seen: set[tuple[str, str, str]] = set()
    for t in wf.transitions:
        if (t.trigger, t.source, t.dest) not in seen:
            seen.add((t.trigger, t.source, t.dest))
            transitions.append({"trigger": t.trigger, "source": t.source, "dest": t.dest})
    _DiagramMachine(
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
    return sheet.get_graph()  # type: ignore[attr-defined]


def mermaid(wf: Workflow, *, lang: str = "en") -> str:
    text: str = _machine(wf, "mermaid", lang).draw(None)
    return text.rstrip() + "\n"


def render(wf: Workflow, *, fmt: str = "svg", lang: str = "en") -> bytes:
    """SVG or PNG bytes via Graphviz ``dot``."""
    data: bytes = _machine(wf, "graphviz", lang).draw(None, format=fmt, prog="dot")
    return data
