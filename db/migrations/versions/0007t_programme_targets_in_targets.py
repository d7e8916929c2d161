"""Programme targets kept in one place: the ``targets`` table (rows without a project), which
the roll-ups already read; English description and unit added there; ``programme_targets`` goes.

Revision ID: 0007t
Revises: 0006a
Create Date: 2026-12-02 00:45:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0007t"
down_revision: str | Sequence[str] | None = "0006a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the kind names programme targets used before, where the targets table names them otherwise
RENAMED_KINDS = {"patent": "ip"}

_old = sa.table(
    "programme_targets",
    sa.column("id", sa.Integer),
    sa.column("programme_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("description", sa.String),
    sa.column("description_en", sa.String),
    sa.column("quantity", sa.Numeric(16, 2)),
    sa.column("unit", sa.String),
    sa.column("unit_en", sa.String),
    sa.column("at_least", sa.Boolean),
    sa.column("due_year", sa.Integer),
    sa.column("weight", sa.Numeric(6, 3)),
)
_targets = sa.table(
    "targets",
    sa.column("id", sa.BigInteger),
    sa.column("programme_id", sa.Integer),
    sa.column("project_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("custom_kind", sa.String),
    sa.column("description", sa.Text),
    sa.column("description_en", sa.Text),
    sa.column("unit", sa.String),
    sa.column("unit_en", sa.String),
    sa.column("planned_hundredths", sa.BigInteger),
    sa.column("achieved_hundredths", sa.BigInteger),
    sa.column("weight_hundredths", sa.BigInteger),
    sa.column("due_on", sa.Date),
    sa.column("position", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("retired_at", sa.DateTime),
)


def _hundredths(value: Decimal | None) -> int | None:
    return None if value is None else int((Decimal(value) * 100).to_integral_value())


def upgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description_en", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("unit_en", sa.String(length=40), nullable=True))
        batch_op.alter_column("unit", existing_type=sa.String(length=20), type_=sa.String(length=40))
    conn = op.get_bind()
    active = sa.and_(_targets.c.project_id.is_(None), _targets.c.retired_at.is_(None))
    held = {(r.programme_id, r.kind) for r in conn.execute(sa.select(_targets.c.programme_id, _targets.c.kind).where(active))}
    positions: dict[int, int] = {}
    for r in conn.execute(sa.select(_targets.c.programme_id, sa.func.max(_targets.c.position)).where(active).group_by(_targets.c.programme_id)):
        positions[r[0]] = int(r[1] or 0)
    rows = conn.execute(sa.select(_old).order_by(_old.c.programme_id, _old.c.id)).all()
    for r in rows:
        kind = RENAMED_KINDS.get(r.kind, r.kind)
        if (r.programme_id, kind) in held:  # one target per kind: the one results are reported against stays
            continue
        held.add((r.programme_id, kind))
        positions[r.programme_id] = positions.get(r.programme_id, 0) + 1
        conn.execute(
            sa.insert(_targets).values(
                programme_id=r.programme_id,
                project_id=None,
                kind=kind,
                custom_kind=None,
                description=r.description,
                description_en=r.description_en,
                unit=r.unit,
                unit_en=r.unit_en,
                planned_hundredths=_hundredths(r.quantity),
                achieved_hundredths=0,
                weight_hundredths=_hundredths(r.weight),
                due_on=date(r.due_year, 12, 31) if r.due_year else None,
                position=positions[r.programme_id],
                created_at=sa.func.current_timestamp(),
                retired_at=None,
            )
        )
    with op.batch_alter_table("programme_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_targets_programme")
    op.drop_table("programme_targets")


def downgrade() -> None:
    op.create_table(
        "programme_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("description_en", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("unit_en", sa.String(length=40), nullable=False),
        sa.Column("at_least", sa.Boolean(), nullable=False),
        sa.Column("due_year", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Numeric(precision=6, scale=3), nullable=True),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_programme_targets_programme_id_programmes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_targets")),
    )
    with op.batch_alter_table("programme_targets", schema=None) as batch_op:
        batch_op.create_index("ix_programme_targets_programme", ["programme_id"], unique=False)
    conn = op.get_bind()
    back = {v: k for k, v in RENAMED_KINDS.items()}
    programme_rows = sa.and_(_targets.c.project_id.is_(None), _targets.c.retired_at.is_(None))
    for r in conn.execute(sa.select(_targets).where(programme_rows).order_by(_targets.c.id)).all():
        conn.execute(
            sa.insert(_old).values(
                programme_id=r.programme_id,
                kind=back.get(r.kind, r.custom_kind or r.kind),
                description=r.description,
                description_en=r.description_en or r.description,
                quantity=Decimal(r.planned_hundredths) / 100,
                unit=r.unit or "",
                unit_en=r.unit_en or r.unit or "",
                at_least=True,
                due_year=r.due_on.year if r.due_on else None,
                weight=None if r.weight_hundredths is None else Decimal(r.weight_hundredths) / 100,
            )
        )
    # the rows stay in ``targets`` too: before this revision the roll-ups kept programme targets there
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.alter_column("unit", existing_type=sa.String(length=40), type_=sa.String(length=20))
        batch_op.drop_column("unit_en")
        batch_op.drop_column("description_en")
