"""Create heartbeats and jobs_done.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("release", sa.String(200), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_heartbeats_host", "heartbeats", ["host"])
    op.create_table(
        "jobs_done",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.BigInteger(), nullable=False),
        sa.Column("release", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("worker_pid", sa.Integer(), nullable=False),
        sa.Column("job_try", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("jobs_done")
    op.drop_index("ix_heartbeats_host", table_name="heartbeats")
    op.drop_table("heartbeats")
