"""Workflow definitions: tables turned into one shared `transitions` machine each.

A definition is data (see ``states.lifecycle``); a variant is data too, written as a TOML
document that starts from a base and removes or adds states and transitions. Every
definition is validated when it is built: unknown states, guards or presets, unreachable
states and dead ends are errors that name the state.

One ``Machine`` per definition, shared by every stored subject: a stored row is wrapped in a
throw-away ``_Subject`` carrying its current state, never attached with ``add_model``.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from transitions import Machine, MachineError

from grantflow.states.adjustments import kind_label as adjustment_kind_label
from grantflow.states.attributes import StateDef, state_from_row
from grantflow.states.attributes import problems as attribute_problems
from grantflow.states.deadlines import FORM_LABELS, form_label, stage_label
from grantflow.states.effects import known_effect
from grantflow.states.errors import (
    Forbidden,
    GuardFailed,
    InvalidTrigger,
    PayloadInvalid,
    UnknownTrigger,
    UnknownWorkflow,
    WorkflowInvalid,
)
from grantflow.states.facts import Facts
from grantflow.states.guards import Guard, form_of, get_guard, known_guard
from grantflow.states.lifecycle import BUILTIN_WORKFLOWS, REVIEW_STAGES, TRIGGER_LABELS
from grantflow.states.permissions import (
    PRESETS,
    Actor,
    FormLocked,
    adjustment_only,
    forbidden_reasons,
    form_refusal,
    may_ever_fire,
    may_view,
)
from grantflow.states.programmes import NOTE_LABELS as PROGRAMME_NOTES
from grantflow.states.text import Text

AUDIENCES = frozenset({"applicant", "organiser", "office", "leadership", "evaluator", "reviewers", "public"})
SUBJECTS = frozenset({"project", "call", "programme", "adjustment"})


@dataclass(frozen=True)
class TransitionDef:
    trigger: str
    source: str
    dest: str
    who: tuple[str, ...]
    guards: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    separate_from_scorers: bool = False
    notify: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()

    @property
    def label(self) -> Text:
        return trigger_label(self.trigger)


def trigger_label(trigger: str) -> Text:
    zh, en = TRIGGER_LABELS.get(trigger, (trigger, trigger.replace("_", " ")))
    return Text(zh, en)


def event_label(action: str) -> Text:
    """How an audit event's action reads in a history: triggers, and the recorded non-transitions."""
    kind, _, detail = action.partition(":")
    if kind == "create":
        return Text("创建", "created")
    if kind == "state_renamed":
        return Text("状态更名（迁移）", "state renamed (migration)")
    if kind == "submit_form" and detail:
        form = form_label(detail)
        return Text(f"提交表单：{form.zh}", f"form submitted: {form.en}")
    if kind == "partners" and detail:
        form = form_label(detail)
        return Text(f"合作单位按{form.zh}更新", f"partners updated from the {form.en}")
    if kind == "review" and detail:
        stage = stage_label(detail)
        return Text(f"提交评审意见：{stage.zh}", f"review submitted: {stage.en}")
    if kind == "adjusted" and detail:
        what = adjustment_kind_label(detail)
        return Text(f"动态调整：{what.zh}", f"dynamic adjustment: {what.en}")
    if action in PROGRAMME_NOTES:
        return PROGRAMME_NOTES[action]
    return trigger_label(action)


@dataclass(frozen=True)
class Availability:
    """One button on a page: a trigger, whether this actor may press it now, and why not."""

    trigger: str
    label: Text
    allowed: bool
    reasons: tuple[Text, ...] = ()
    requires: tuple[str, ...] = ()
    permitted: bool = True
    """The table names this actor among those who may fire it (guards and time aside): a page
    shows a disabled button only then, and hides what this person can never do."""
    offered: bool = True
    """Whether this actor could ever fire it (``permissions.may_ever_fire``): pages show only these."""
    by_adjustment: bool = False
    """Only an applied dynamic-adjustment request fires it (``permissions.adjustment_only``)."""


class _Subject:
    """What the shared machine moves: the stored state plus what its conditions read."""

    __slots__ = ("actor", "facts", "now", "state")

    def __init__(self, state: str, facts: Facts, actor: Actor, now: datetime) -> None:
        self.state = state
        self.facts = facts
        self.actor = actor
        self.now = now


@dataclass
class Workflow:
    name: str
    subject: str
    label: Text
    initial: str
    states: dict[str, StateDef]
    transitions: list[TransitionDef]
    renamed: dict[str, str] = field(default_factory=dict)
    base: str | None = None

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise WorkflowInvalid(self.name, problems)
        self._by_key: dict[tuple[str, str], list[TransitionDef]] = {}
        for t in self.transitions:
            self._by_key.setdefault((t.trigger, t.source), []).append(t)
        self.machine = self._build_machine()

    # --- reading the table ------------------------------------------------------------------

    def state_label(self, state: str) -> Text:
        s = self.states.get(state)
        return s.label if s else Text(state, state)

    def state(self, name: str) -> StateDef:
        """A state's definition; a name the table lacks (a stranded row) allows nothing."""
        found = self.states.get(name)
        return found if found is not None else StateDef(name, Text(name, name), viewers=(), reminders=())

    def states_where(self, test: Callable[[StateDef], bool]) -> list[str]:
        """The names of the states with an attribute: ``wf.states_where(lambda s: s.active)``."""
        return [s.name for s in self.states.values() if test(s)]

    def review_stage(self, state: str) -> str | None:
        """The review stage whose reviews count (and may be submitted) in this state."""
        return self.state(state).review_stage

    def submit_trigger(self, state: str, form_key: str | None = None) -> str | None:
        """The trigger by which the applicant submits a stage's form from this state (the one whose
        guard needs that form): ``submit`` from a draft, ``resubmit`` once returned, ``submit_concept``
        from a concept note. None when no such row leaves the state."""
        for t in self.transitions:
            if t.source != state or "applicant" not in t.who:
                continue
            forms = [f for f in (form_of(g) for g in t.guards) if f is not None]
            if forms and (form_key is None or form_key in forms):
                return t.trigger
        return None

    def hand_in_with(self, form_key: str, *, facts: Facts, actor: Actor) -> str | None:
        """The trigger a form's own page may fire right after the form is submitted: this state's
        submit by the applicant whose guard needs that form (``submit_trigger``), when the row is
        for this person at all. Its guards are checked when it is pressed, as on the project page."""
        trigger = self.submit_trigger(facts.state, form_key)
        if trigger is None:
            return None
        here = self.states.get(facts.state)
        rows = self.rules_for(trigger, facts.state)
        return trigger if any(may_ever_fire(t.who, actor, facts, here) for t in rows) else None

    def scheduled(self) -> list[tuple[TransitionDef, Guard]]:
        """Rows the scheduler fires once a moment has come: the ``system`` may fire them and a
        guard waits for a date (the call's opening, its deadline)."""
        out = []
        for t in self.transitions:
            if "system" not in t.who:
                continue
            for name in t.guards:
                guard = get_guard(name)
                if guard.after is not None:
                    out.append((t, guard))
        return out

    def editable_in(self, form_key: str) -> list[str]:
        return self.states_where(lambda s: form_key in s.editable)

    def may_view(self, facts: Facts, actor: Actor) -> bool:
        """Whether the actor may see the subject in its current state (``states.permissions.may_view``)."""
        return may_view(actor, facts, self.state(facts.state))

    def form_refusal(self, facts: Facts, actor: Actor, form_key: str) -> FormLocked | None:
        """None if the actor may edit the form now; else why not, naming the state (one answer for
        the engine's form store, the page, the API and the CLI)."""
        return form_refusal(
            form_key=form_key,
            form_title=form_label(form_key),
            actor=actor,
            facts=facts,
            here=self.state(facts.state),
            editable_in=[self.states[n].label for n in self.editable_in(form_key)],
        )

    def triggers_from(self, state: str) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.transitions:
            if t.source == state:
                seen.setdefault(t.trigger, None)
        return list(seen)

    def is_task(self, trigger: str, state: str) -> bool:
        """Whether a row is work waiting for someone, rather than a way out they may take at any
        time: a row to an end state with no condition and no reason asked (an applicant's
        withdrawal) is a choice, never a to-do."""
        rows = self.rules_for(trigger, state)
        return not all(self.state(r.dest).terminal and not r.guards and not r.requires for r in rows)

    def rules_for(self, trigger: str, state: str) -> list[TransitionDef]:
        return self._by_key.get((trigger, state), [])

    @property
    def triggers(self) -> list[str]:
        return list(dict.fromkeys(t.trigger for t in self.transitions))

    @property
    def terminal_states(self) -> list[str]:
        return [s.name for s in self.states.values() if s.terminal]

    # --- deciding -----------------------------------------------------------------------------

    def decide(
        self, *, facts: Facts, actor: Actor, trigger: str, payload: Mapping[str, Any], now: datetime
    ) -> TransitionDef:
        """The row that fires, or a domain error saying why none can. Pure: nothing is stored."""
        state = facts.state
        candidates = self.rules_for(trigger, state)
        if not candidates and trigger not in self.triggers:
            raise UnknownTrigger(trigger=trigger, workflow=self.name, known=self.triggers)
        if not candidates:
            raise InvalidTrigger(
                trigger=trigger,
                state=self.state_label(state),
                state_name=state,
                allowed=[(t, trigger_label(t)) for t in self.triggers_from(state)],
            )
        subject = _Subject(state, facts, actor, now)
        try:
            fired = self.machine.events[trigger].trigger(subject)
        except MachineError:  # pragma: no cover - rules_for already checked the source
            fired = False
        if not fired:
            raise self._explain(candidates, facts, actor, now)
        rule = next(t for t in candidates if t.dest == subject.state)
        missing = [key for key in rule.requires if not _present(payload.get(key))]
        if missing:
            raise PayloadInvalid(
                Text("请填写：" + "、".join(missing), "Please provide: " + ", ".join(missing)),
                details={"missing": missing},
            )
        return rule

    def available(self, *, facts: Facts, actor: Actor, now: datetime) -> list[Availability]:
        """Every trigger from the current state with this actor's standing: the page's buttons."""
        result = []
        for trigger in self.triggers_from(facts.state):
            candidates = self.rules_for(trigger, facts.state)
            subject = _Subject(facts.state, facts, actor, now)
            ok = any(self._passes(t, subject) for t in candidates)
            reasons: tuple[Text, ...] = ()
            if not ok:
                err = self._explain(candidates, facts, actor, now)
                reasons = tuple(err.reasons)
            requires = tuple(dict.fromkeys(k for t in candidates for k in t.requires))
            permitted = ok or any(
                not forbidden_reasons(
                    who=t.who,
                    separate_from_scorers=t.separate_from_scorers,
                    actor=actor,
                    facts=facts,
                    here=self.states.get(facts.state),
                )
                for t in candidates
            )
            here = self.states.get(facts.state)
            offered = ok or any(may_ever_fire(t.who, actor, facts, here) for t in candidates)
            by_adjustment = all(adjustment_only(t.who) for t in candidates)
            result.append(
                Availability(
                    trigger,
                    trigger_label(trigger),
                    ok,
                    reasons,
                    requires,
                    permitted=permitted,
                    offered=offered,
                    by_adjustment=by_adjustment,
                )
            )
        return result

    def offered(self, *, facts: Facts, actor: Actor, now: datetime) -> list[Availability]:
        """The buttons a page shows this actor: those they could fire, pressable now or greyed out with why."""
        return [b for b in self.available(facts=facts, actor=actor, now=now) if b.offered]

    def _explain(
        self, candidates: list[TransitionDef], facts: Facts, actor: Actor, now: datetime
    ) -> Forbidden | GuardFailed:
        forbidden: list[Text] = []
        failed: list[Text] = []
        here = self.state(facts.state)
        for t in candidates:
            who = forbidden_reasons(
                who=t.who, separate_from_scorers=t.separate_from_scorers, actor=actor, facts=facts, here=here
            )
            if who:
                forbidden.extend(r for r in who if r not in forbidden)
                continue
            for guard in (get_guard(n) for n in t.guards):
                if not guard.check(facts, now):
                    failed.extend(r for r in guard.reasons(facts, now) if r not in failed)
        if failed:
            return GuardFailed(failed)
        return Forbidden(forbidden)

    def _passes(self, rule: TransitionDef, subject: _Subject) -> bool:
        if forbidden_reasons(
            who=rule.who,
            separate_from_scorers=rule.separate_from_scorers,
            actor=subject.actor,
            facts=subject.facts,
            here=self.states.get(subject.state),
        ):
            return False
        return all(get_guard(n).check(subject.facts, subject.now) for n in rule.guards)

    def _build_machine(self) -> Machine:
        rows = []
        for rule in self.transitions:
            rows.append(
                {
                    "trigger": rule.trigger,
                    "source": rule.source,
                    "dest": rule.dest,
                    "conditions": [
                        _permission_condition(rule, self.states.get(rule.source)),
                        *(_guard_condition(n) for n in rule.guards),
                    ],
                }
            )
        return Machine(
            model=None,
            states=list(self.states),
            transitions=rows,
            initial=self.initial,
            auto_transitions=False,
            send_event=True,
            name=f"{self.name}: ",
        )


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _permission_condition(rule: TransitionDef, here: StateDef | None) -> Any:
    def may_act(event: Any) -> bool:
        subject: _Subject = event.model
        return not forbidden_reasons(
            who=rule.who,
            separate_from_scorers=rule.separate_from_scorers,
            actor=subject.actor,
            facts=subject.facts,
            here=here,
        )

    return may_act


def _guard_condition(name: str) -> Any:
    guard = get_guard(name)

    def check(event: Any) -> bool:
        subject: _Subject = event.model
        return bool(guard.check(subject.facts, subject.now))

    check.__name__ = name
    return check


# --- building and validating ------------------------------------------------------------------


def _listify(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def build(doc: Mapping[str, Any]) -> Workflow:
    """A workflow from a complete definition (the shape of ``states.lifecycle``'s dicts)."""
    problems: list[str] = []
    states: dict[str, StateDef] = {}
    for row in doc.get("states", []):
        name = row["name"]
        if name in states:
            problems.append(f"state '{name}' is declared twice")
        problems += attribute_problems(row, presets=PRESETS, forms=FORM_LABELS, stages=REVIEW_STAGES)
        states[name] = state_from_row(row)
    transitions = []
    for row in doc.get("transitions", []):
        for source in _listify(row["source"]):
            transitions.append(
                TransitionDef(
                    trigger=row["trigger"],
                    source=source,
                    dest=row["dest"],
                    who=tuple(_listify(row.get("who", []))),
                    guards=tuple(_listify(row.get("guards", []))),
                    requires=tuple(_listify(row.get("requires", []))),
                    separate_from_scorers=bool(row.get("separate_from_scorers", False)),
                    notify=tuple(_listify(row.get("notify", []))),
                    effects=tuple(_listify(row.get("effects", []))),
                )
            )
    name = str(doc.get("name", ""))
    if problems:
        raise WorkflowInvalid(name, problems)
    return Workflow(
        name=name,
        subject=str(doc.get("subject", "project")),
        label=Text(doc.get("zh", name), doc.get("en", name)),
        initial=str(doc.get("initial", "")),
        states=states,
        transitions=transitions,
        renamed=dict(doc.get("renamed", {})),
        base=doc.get("base"),
    )


def derive(doc: Mapping[str, Any], bases: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Expand a variant document (``base`` plus changes) into a complete definition."""
    name = doc.get("name", "?")
    base_name = doc.get("base")
    if base_name is None:
        return dict(doc)
    if base_name not in bases:
        raise WorkflowInvalid(str(name), [f"base workflow '{base_name}' is unknown"])
    full = copy.deepcopy(dict(bases[base_name]))
    removed = set(doc.get("remove_states", []))
    unknown = sorted(removed - {s["name"] for s in full["states"]})
    if unknown:
        raise WorkflowInvalid(str(name), [f"remove_states names unknown state '{s}'" for s in unknown])
    full["states"] = [s for s in full["states"] if s["name"] not in removed]
    full["states"].extend(doc.get("states", []))
    # ``[attributes.STATE]`` changes what an inherited (or added) state allows, key by key
    changes = dict(doc.get("attributes", {}))
    by_name = {s["name"]: s for s in full["states"]}
    unknown_states = sorted(set(changes) - set(by_name))
    if unknown_states:
        raise WorkflowInvalid(str(name), [f"attributes name unknown state '{s}'" for s in unknown_states])
    full["states"] = [{**s, **changes.get(s["name"], {})} for s in full["states"]]
    drop = [(r["trigger"], r.get("source")) for r in doc.get("remove_transitions", [])]
    kept = []
    for row in full["transitions"]:
        sources = [s for s in _listify(row["source"]) if s not in removed]
        sources = [s for s in sources if (row["trigger"], s) not in drop and (row["trigger"], None) not in drop]
        if not sources or row["dest"] in removed:
            continue
        kept.append({**row, "source": sources})
    full["transitions"] = kept + list(doc.get("transitions", []))
    for key in ("name", "zh", "en", "initial", "renamed"):
        if key in doc:
            full[key] = doc[key]
    full["base"] = base_name
    return full


def validate(wf: Workflow) -> list[str]:
    problems: list[str] = []
    if not wf.name:
        problems.append("the workflow has no name")
    if wf.subject not in SUBJECTS:
        problems.append(f"subject '{wf.subject}' is unknown")
    names = set(wf.states)
    if wf.initial not in names:
        problems.append(f"initial state '{wf.initial}' is not declared")
    seen: set[tuple[str, str, str]] = set()
    for t in wf.transitions:
        where = f"transition '{t.trigger}' ({t.source} → {t.dest})"
        for end in (t.source, t.dest):
            if end not in names:
                problems.append(f"{where} names unknown state '{end}'")
        if not t.who:
            problems.append(f"{where} says nobody may fire it")
        problems += [f"{where} names unknown permission preset '{w}'" for w in t.who if w not in PRESETS]
        problems += [f"{where} names unknown guard '{g}'" for g in t.guards if not known_guard(g)]
        problems += [f"{where} notifies unknown audience '{a}'" for a in t.notify if a not in AUDIENCES]
        problems += [f"{where} names unknown effect '{e}'" for e in t.effects if not known_effect(e)]
        for g in t.guards:
            if g.startswith("suspended_from_") and g.removeprefix("suspended_from_") not in names:
                problems.append(f"{where} resumes to unknown state '{g.removeprefix('suspended_from_')}'")
        key = (t.trigger, t.source, t.dest)
        if key in seen:
            problems.append(f"{where} is declared twice")
        seen.add(key)
    outgoing: dict[str, set[str]] = {n: set() for n in names}
    forward: dict[str, set[str]] = {n: set() for n in names}
    for t in wf.transitions:
        if t.source in outgoing and t.dest in names:
            outgoing[t.source].add(t.dest)
            # a resume edge only returns to where the subject came from: it reaches nothing new
            if f"suspended_from_{t.dest}" not in t.guards:
                forward[t.source].add(t.dest)
    for s in wf.states.values():
        if s.terminal and outgoing.get(s.name):
            problems.append(f"terminal state '{s.name}' has outgoing transitions")
        if not s.terminal and not outgoing.get(s.name):
            problems.append(f"state '{s.name}' is a dead end: no transition leaves it and it is not terminal")
    if wf.initial in names:
        reached = {wf.initial}
        queue = deque([wf.initial])
        while queue:
            for nxt in forward[queue.popleft()]:
                if nxt not in reached:
                    reached.add(nxt)
                    queue.append(nxt)
        problems += [f"state '{n}' is unreachable from '{wf.initial}'" for n in wf.states if n not in reached]
    if not any(s.terminal for s in wf.states.values()):
        problems.append("no terminal state")
    problems += _attribute_consistency(wf)
    for old, new in wf.renamed.items():
        if new not in names:
            problems.append(f"renamed state '{old}' maps to unknown state '{new}'")
        if old in names:
            problems.append(f"renamed state '{old}' still exists")
    return problems


def _attribute_consistency(wf: Workflow) -> list[str]:
    """The attributes agree with the transitions: a row that needs a form leaves a state where that
    form can be edited, and a row that counts a quorum leaves a state with a review stage."""
    problems = []
    for t in wf.transitions:
        here = wf.states.get(t.source)
        if here is None:
            continue
        for g in t.guards:
            form = form_of(g)
            if form is not None and form not in here.editable:
                problems.append(
                    f"state '{t.source}': transition '{t.trigger}' needs form '{form}', which is not editable there"
                )
        if "quorum_reached" in t.guards and here.review_stage is None:
            problems.append(
                f"state '{t.source}': transition '{t.trigger}' counts a quorum but the state has no review_stage"
            )
    return problems


class Registry:
    """The workflows in force, by name; built-ins plus variants from configuration."""

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self._by_name: dict[str, Workflow] = {}
        for wf in workflows:
            self.add(wf)

    def add(self, wf: Workflow) -> None:
        self._by_name[wf.name] = wf

    def get(self, name: str) -> Workflow:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownWorkflow(name, sorted(self._by_name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self, subject: str | None = None) -> list[str]:
        return [n for n, wf in self._by_name.items() if subject is None or wf.subject == subject]

    def __iter__(self) -> Any:
        return iter(self._by_name.values())


def builtin_documents() -> dict[str, dict[str, Any]]:
    return {doc["name"]: doc for doc in BUILTIN_WORKFLOWS}


def registry_from_documents(variants: Iterable[Mapping[str, Any]] = ()) -> Registry:
    """Built-ins plus variant documents (already parsed). Each variant is validated on the way in."""
    docs: dict[str, Mapping[str, Any]] = dict(builtin_documents())
    registry = Registry(build(doc) for doc in docs.values())
    pending = list(variants)
    # a variant may build on another variant: resolve in dependency order
    while pending:
        progressed = False
        for doc in list(pending):
            if doc.get("base") is None or doc["base"] in docs:
                full = derive(doc, docs)
                registry.add(build(full))
                docs[str(full["name"])] = full
                pending.remove(doc)
                progressed = True
        if not progressed:
            doc = pending[0]
            raise WorkflowInvalid(str(doc.get("name")), [f"base workflow '{doc.get('base')}' is unknown"])
    return registry
