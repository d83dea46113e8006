"""A plan copies its pack's consequence numbers too (多次, its window, the days to rectify), as it copies the
paper's rules: a running exam is judged by the numbers it was planned with, from the packs the service is
configured with (QSR_GRADING_PACKS_DIR), never the shipped defaults by mistake.

Revision ID: 20261203_0004
Revises: 20261203_0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "20261203_0004"
down_revision = "20261203_0003"
branch_labels = None
depends_on = None

COLUMNS = (("repeated_failures", 2), ("repeated_failures_within_days", 730), ("rectification_days", 30))


def upgrade() -> None:
    with op.batch_alter_table("exam_plan") as table:
        for name, default in COLUMNS:
            table.add_column(sa.Column(name, sa.Integer, nullable=False, server_default=str(default)))


def downgrade() -> None:
    with op.batch_alter_table("exam_plan") as table:
        for name, _ in COLUMNS:
            table.drop_column(name)
