"""Site flags: facts about the installation, such as "demo people were seeded" (the sign-in page
lists demo accounts only then, and never in production).

Revision ID: 0007s
Revises: 0007c
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grantflow.db.models

revision: str = "0007s"
down_revision: str | Sequence[str] | None = "0007c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_flags",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("set_at", grantflow.db.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_site_flags")),
    )


def downgrade() -> None:
    op.drop_table("site_flags")
