"""The one place that changes a stored state.

``fire`` runs one trigger on one stored subject in its own transaction; ``apply_trigger``
does the same inside the caller's transaction (batches, other writers). Both: load the
subject, ask ``states`` who may act and whether it may happen, transition through the
workflow's shared machine, write the state with a compare-and-set on ``version``, run the
recorded effects, and last append the audit event with its outbox row (last: on PostgreSQL the
audit head is held from that statement to the commit, see ``db.audit``). Delivery of
notifications happens later, from the outbox.

The hot path uses Core statements (compiled once, cached by SQLAlchemy) rather than the ORM
unit of work: the ORM costs most of a transition's time and keeps objects alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.engine import Dialect

from grantflow import clock
from grantflow.db import audit
from grantflow.db.effects import RECORDED_EFFECT_HANDLERS
from grantflow.db.facts import SUBJECT_LABELS, TABLES, DbFacts, load_facts
from grantflow.db.prepared import Prepared, Statements, cursor
from grantflow.db.workflows import get_registry
from grantflow.states.channels import Channel, ChannelKind
from grantflow.states.effects import EFFECTS as COLUMN_EFFECTS
from grantflow.states.effects import column_changes
from grantflow.states.errors import Conflict, GrantflowError, NotFound, WorkflowInvalid
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.states.workflow import Registry, TransitionDef, Workflow

MIGRATION_CHANNEL = Channel(ChannelKind.MIGRATION, "states renamed by a workflow change")


@dataclass(frozen=True)
class Transitioned:
    subject: str
    subject_id: int
    trigger: str
    from_state: str
    to_state: str
    version: int
    event_id: int


class StrandedState(GrantflowError):
    """A stored subject sits in a state its workflow no longer has: a migration was missed."""

    code = "stranded_state"


def _update_statement(subject: str, extra: tuple[str, ...]) -> Any:
    table = TABLES[subject]
    values: dict[str, Any] = {
        "state": bindparam("new_state"),
        "version": bindparam("new_version"),
        "state_entered_at": bindparam("now"),
    }
    values.update({col: bindparam(f"set_{col}") for col in extra})
    return (
        update(table)
        .where(table.c.id == bindparam("sid"), table.c.version == bindparam("old_version"))
        .values(**values)
    )


def _build(name: str, dialect: Dialect) -> Prepared:
    subject, _, extra = name.partition(":")
    stmt = _update_statement(subject, tuple(extra.split(",")) if extra else ())
    if dialect.name == "postgresql":
        # the update and the read of the audit chain's head in one round trip (``audit.head_after``)
        return Prepared(audit.head_after(stmt, dialect), dialect)
    return Prepared(stmt, dialect)


STATEMENTS = Statements(_build)
"""The versioned update (one per subject and set of effect columns; on PostgreSQL with the read
of the audit chain's head), compiled per dialect and run on the DBAPI cursor (see
``db.prepared``); the audit event and the outbox message are written by ``audit.append``."""


def plan(
    conn: Connection,
    *,
    subject: str,
    subject_id: int,
    trigger: str,
    actor: Actor,
    payload: Mapping[str, Any],
    now: datetime,
    registry: Registry,
) -> tuple[DbFacts, TransitionDef]:
    """Read and decide; writes nothing. Raises the domain error that explains a refusal."""
    facts = load_facts(conn, subject, subject_id, registry)
    workflow = registry.get(facts.workflow)
    _check_not_stranded(workflow, facts)
    rule = workflow.decide(facts=facts, actor=actor, trigger=trigger, payload=payload, now=now)
    return facts, rule


def write(
    conn: Connection,
    *,
    facts: DbFacts,
    rule: TransitionDef,
    actor: Actor,
    payload: Mapping[str, Any],
    now: datetime,
) -> Transitioned:
    """Write a decided transition: versioned update, audit event, outbox row. No commit."""
    changes = column_changes(rule.effects, source=rule.source, now=now)
    dialect = conn.dialect
    cur = cursor(conn)
    params = {
        "sid": facts.subject_id,
        "old_version": facts.version,
        "new_version": facts.version + 1,
        "new_state": rule.dest,
        "now": now,
        **{f"set_{k}": v for k, v in changes.items()},
    }
    # compare-and-set: a concurrent writer already moved the version, so nothing matches
    versioned = STATEMENTS.get(dialect, f"{facts.subject}:{','.join(sorted(changes))}")
    head: tuple[Any, ...] | None = None
    if dialect.name == "postgresql":
        params["chain"] = audit.chain_of(facts.subject_id)
        row = versioned.row(versioned.execute(cur, params).fetchone())
        if row is None:
            raise RuntimeError(f"the audit_head row of chain {params['chain']} is missing: run `grantflow db upgrade`")
        *read, changed = row
        head = tuple(read)
    else:
        changed = versioned.execute(cur, params).rowcount
    if changed != 1:
        raise Conflict(subject=facts.subject, subject_id=facts.subject_id)
    for name in rule.effects:
        handler = RECORDED_EFFECT_HANDLERS.get(name)
        if handler is not None:
            handler(conn, facts=facts, rule=rule, actor=actor, payload=payload, now=now)
        elif name not in COLUMN_EFFECTS:
            # a registry built without ``db.workflows`` (which refuses these on loading)
            raise WorkflowInvalid(facts.workflow, [f"effect '{name}' has no handler in grantflow.db.effects"])
    message = None
    if rule.notify:
        message = {
            "kind": f"{facts.subject}.{rule.trigger}",
            "subject": facts.subject,
            "subject_id": facts.subject_id,
            "audiences": list(rule.notify),
            "payload": {"from": rule.source, "to": rule.dest, "actor": actor.name, "reason": payload.get("reason")},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
    # last, so that on PostgreSQL the audit head is held only from here to the commit
    event_id = audit.append(
        conn,
        subject=facts.subject,
        subject_id=facts.subject_id,
        actor_id=actor.user_id,
        actor_name=actor.name,
        action=rule.trigger,
        from_state=rule.source,
        to_state=rule.dest,
        payload=payload,
        now=now,
        channel=actor.channel,
        message=message,
        head=head,
    )
    return Transitioned(
        facts.subject, facts.subject_id, rule.trigger, rule.source, rule.dest, facts.version + 1, event_id
    )


def apply_trigger(
    conn: Connection,
    *,
    subject: str = "project",
    subject_id: int,
    trigger: str,
    actor: Actor,
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    registry: Registry | None = None,
) -> Transitioned:
    """Fire ``trigger`` inside the caller's transaction (the caller commits or rolls back)."""
    body = dict(payload or {})
    moment = now or clock.now()
    facts, rule = plan(
        conn,
        subject=subject,
        subject_id=subject_id,
        trigger=trigger,
        actor=actor,
        payload=body,
        now=moment,
        registry=registry or get_registry(),
    )
    return write(conn, facts=facts, rule=rule, actor=actor, payload=body, now=moment)


def fire(
    engine: Engine,
    *,
    subject: str = "project",
    subject_id: int,
    trigger: str,
    actor: Actor,
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    registry: Registry | None = None,
) -> Transitioned:
    """Fire ``trigger`` on one stored subject in one committed transaction."""
    with engine.begin() as conn:
        return apply_trigger(
            conn,
            subject=subject,
            subject_id=subject_id,
            trigger=trigger,
            actor=actor,
            payload=payload,
            now=now,
            registry=registry,
        )


def _check_not_stranded(workflow: Workflow, facts: DbFacts) -> None:
    if facts.state not in workflow.states:
        label = SUBJECT_LABELS[facts.subject]
        raise StrandedState(
            Text(
                f"{label.zh} {facts.subject_id} 处于流程“{workflow.name}”中不存在的状态“{facts.state}”，"
                "请运行 grantflow db upgrade 完成状态迁移",
                f"{label.en} {facts.subject_id} is in state '{facts.state}', which workflow "
                f"'{workflow.name}' no longer has; run `grantflow db upgrade` to map it",
            ),
            details={"state": facts.state, "workflow": workflow.name},
        )


# --- creating subjects and mapping renamed states -------------------------------------------------


def create(
    conn: Connection,
    *,
    subject: str,
    values: Mapping[str, Any],
    actor: Actor,
    now: datetime | None = None,
    registry: Registry | None = None,
) -> int:
    """Insert a new subject in its workflow's initial state, with its 'create' audit event."""
    reg = registry or get_registry()
    table = TABLES[subject]
    default = table.c.workflow.default
    workflow = reg.get(str(values.get("workflow") or getattr(default, "arg", "")))
    if workflow.subject != subject:
        raise NotFound(
            Text(f"流程“{workflow.name}”不适用于此类对象", f"workflow '{workflow.name}' is not for a {subject}")
        )
    moment = now or clock.now()
    row = {
        **values,
        "workflow": workflow.name,
        "state": workflow.initial,
        "version": 1,
        "state_entered_at": moment,
        "created_at": moment,
    }
    new_id = int(conn.execute(insert(table).returning(table.c.id), row).scalar_one())
    audit.append(
        conn,
        subject=subject,
        subject_id=new_id,
        actor_id=actor.user_id,
        actor_name=actor.name,
        action="create",
        from_state=None,
        to_state=workflow.initial,
        payload={k: v for k, v in values.items() if k != "workflow"},
        now=moment,
        channel=actor.channel,
    )
    return new_id


def remap_renamed_states(conn: Connection, *, registry: Registry | None = None, now: datetime | None = None) -> int:
    """Move stored subjects out of renamed states, as each workflow's ``renamed`` table says.

    Each moved row gets an audit event ('state_renamed'), so the history stays complete.
    Returns how many rows moved.
    """
    reg = registry or get_registry()
    moment = now or clock.now()
    moved = 0
    for workflow in reg:
        table = TABLES[workflow.subject]
        for old, new in workflow.renamed.items():
            rows = conn.execute(
                select(table.c.id, table.c.version).where(table.c.workflow == workflow.name, table.c.state == old)
            ).all()
            for row in rows:
                conn.execute(
                    update(table)
                    .where(table.c.id == row.id, table.c.version == row.version)
                    .values(state=new, version=row.version + 1)
                )
                audit.append(
                    conn,
                    subject=workflow.subject,
                    subject_id=row.id,
                    actor_id=None,
                    actor_name="migration",
                    action="state_renamed",
                    from_state=old,
                    to_state=new,
                    payload={"workflow": workflow.name},
                    now=moment,
                    channel=MIGRATION_CHANNEL,
                )
                moved += 1
    return moved


def stranded(conn: Connection, *, registry: Registry | None = None) -> list[tuple[str, int, str, str]]:
    """(subject, id, workflow, state) of every stored subject whose state its workflow lacks."""
    reg = registry or get_registry()
    found: list[tuple[str, int, str, str]] = []
    for subject, subject_table in TABLES.items():
        combos = conn.execute(select(subject_table.c.workflow, subject_table.c.state).distinct()).all()
        for workflow, state in combos:
            if workflow in reg and state in reg.get(workflow).states:
                continue
            ids = conn.execute(
                select(subject_table.c.id).where(subject_table.c.workflow == workflow, subject_table.c.state == state)
            ).scalars()
            found.extend((subject, i, workflow, state) for i in ids)
    return found
