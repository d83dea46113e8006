"""复检: the re-test result of a failed spot check.

Revision ID: 20261123_0002
Revises: 20261123_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "20261123_0002"
down_revision = "20261123_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spot_check") as batch:
        batch.add_column(sa.Column("retest_result", sa.String(12), nullable=True))
        batch.add_column(sa.Column("retest_decided_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("retest_note", sa.Text, nullable=True))
        batch.add_column(sa.Column("retest_by", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spot_check") as batch:
        for name in ("retest_by", "retest_note", "retest_decided_on", "retest_result"):
            batch.drop_column(name)
