"""What each state of a lifecycle allows, beside its transitions: the per-state attributes.

A state row in a table (``states.lifecycle``, or a TOML variant) may carry these keys; every
rule that depends on where a project stands reads them here, never a state name typed in an
interface (see docs/lifecycle.md, "What each state allows"):

``editable``       form key → permission presets who may edit that form while the project is
                   here. A form not listed is locked: its submission is what the next step reads.
``review_stage``   the review stage in force: its reviews count towards the quorum and may be
                   submitted; reviewers assigned to it may read the project.
``assign_stages``  further stages that take reviewer assignments here (panels are formed while
                   the office still checks the submission), read by assigned reviewers too.
``decided_stages`` review stages whose outcome is settled here: the applicant may read the
                   anonymised reviews.
``viewers``        presets who may see the project here (default: ``DEFAULT_VIEWERS``).
``reminders``      reminder kinds that go out here (due items of a kind not listed are paused;
                   ``call_closing`` reminds applicants still preparing their application).
``active``         the project counts towards the eligibility limits on concurrent projects.
``applying``       the applicant is preparing the application: the eligibility check is shown
                   with the submit button.
``bids``           a tender's sealed bid may be submitted or replaced.
``ranked``         the project is listed in its call's ranking (default: yes; not while it is
                   still being drafted, nor once withdrawn).
``accepting``      (calls) submissions and bids are accepted.

Pure: names are checked against the vocabularies passed in (presets, forms, stages), so the
module knows nothing of the form registry or the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grantflow.states.text import Text

# the due-item kinds (``due_items.kind``) and the call-closing reminder
DUE_REMINDERS: tuple[str, ...] = ("report", "review", "evaluation")
CALL_CLOSING = "call_closing"
REMINDER_KINDS = frozenset({*DUE_REMINDERS, CALL_CLOSING})

DEFAULT_VIEWERS: tuple[str, ...] = ("applicant", "organiser", "office", "leadership", "reviewer", "evaluator")
"""Who may see a project wherever its state does not say otherwise. The assignment-bound presets
(``reviewer``, ``evaluator``) admit only people assigned to the project (``states.permissions``)."""

ATTRIBUTE_KEYS = frozenset(
    {
        "editable",
        "review_stage",
        "assign_stages",
        "decided_stages",
        "viewers",
        "reminders",
        "active",
        "applying",
        "bids",
        "ranked",
        "accepting",
    }
)


@dataclass(frozen=True)
class StateDef:
    name: str
    label: Text
    terminal: bool = False
    editable: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    review_stage: str | None = None
    assign_stages: tuple[str, ...] = ()
    decided_stages: tuple[str, ...] = ()
    viewers: tuple[str, ...] = DEFAULT_VIEWERS
    reminders: tuple[str, ...] = DUE_REMINDERS
    active: bool = False
    applying: bool = False
    bids: bool = False
    ranked: bool = True
    accepting: bool = False

    @property
    def stages_in_force(self) -> tuple[str, ...]:
        """Review stages an assignment may be for while the project is here."""
        first = (self.review_stage,) if self.review_stage else ()
        return tuple(dict.fromkeys((*first, *self.assign_stages)))

    def editors(self, form_key: str) -> tuple[str, ...]:
        return self.editable.get(form_key, ())

    def attributes(self) -> dict[str, Any]:
        """The attributes as a table row has them (for ``grantflow workflows show``)."""
        return {
            "editable": {k: list(v) for k, v in self.editable.items()},
            "review_stage": self.review_stage,
            "assign_stages": list(self.assign_stages),
            "decided_stages": list(self.decided_stages),
            "viewers": list(self.viewers),
            "reminders": list(self.reminders),
            "active": self.active,
            "applying": self.applying,
            "bids": self.bids,
            "ranked": self.ranked,
            "accepting": self.accepting,
        }


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def state_from_row(row: Mapping[str, Any]) -> StateDef:
    """A state from its table row; unknown keys are left for ``problems`` to name."""
    name = str(row["name"])
    terminal = bool(row.get("terminal"))
    editable = {str(k): _strings(v) for k, v in dict(row.get("editable") or {}).items()}
    return StateDef(
        name=name,
        label=Text(row.get("zh", name), row.get("en", name)),
        terminal=terminal,
        editable=editable,
        review_stage=row.get("review_stage") or None,
        assign_stages=_strings(row.get("assign_stages")),
        decided_stages=_strings(row.get("decided_stages")),
        viewers=_strings(row["viewers"]) if "viewers" in row else DEFAULT_VIEWERS,
        # a terminal state sends nothing: its open items are cancelled
        reminders=_strings(row["reminders"]) if "reminders" in row else (() if terminal else DUE_REMINDERS),
        active=bool(row.get("active", False)),
        applying=bool(row.get("applying", False)),
        bids=bool(row.get("bids", False)),
        ranked=bool(row.get("ranked", True)),
        accepting=bool(row.get("accepting", False)),
    )


def problems(
    row: Mapping[str, Any],
    *,
    presets: Iterable[str],
    forms: Iterable[str],
    stages: Iterable[str],
) -> list[str]:
    """What is wrong with a state row's attributes, each problem naming the state."""
    name = row.get("name", "?")
    where = f"state '{name}'"
    known_presets, known_forms, known_stages = set(presets), set(forms), set(stages)
    out = [f"{where} has unknown attribute '{k}'" for k in row if k not in ATTRIBUTE_KEYS | _ROW_KEYS]
    editable = row.get("editable") or {}
    if not isinstance(editable, Mapping):
        out.append(f"{where}: editable must map form keys to presets")
        editable = {}
    for form_key, who in editable.items():
        if form_key not in known_forms:
            out.append(f"{where} makes unknown form '{form_key}' editable")
        if not _strings(who):
            out.append(f"{where} makes form '{form_key}' editable by nobody")
        out += [f"{where} lets unknown preset '{p}' edit '{form_key}'" for p in _strings(who) if p not in known_presets]
    out += [
        f"{where} names unknown viewer preset '{p}'" for p in _strings(row.get("viewers")) if p not in known_presets
    ]
    stage_keys = [_strings(row.get("review_stage") or None), _strings(row.get("assign_stages"))]
    stage_keys.append(_strings(row.get("decided_stages")))
    out += [f"{where} names unknown review stage '{s}'" for group in stage_keys for s in group if s not in known_stages]
    out += [f"{where} names unknown reminder '{r}'" for r in _strings(row.get("reminders")) if r not in REMINDER_KINDS]
    return out


_ROW_KEYS = frozenset({"name", "zh", "en", "terminal"})
