"""Known enterprises, spot checks and the messaging tables.

Revision ID: 20261123_0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from services.common.messaging import create_messaging_tables

revision = "20261123_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "known_enterprise",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
    )
    op.create_table(
        "spot_check",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), nullable=False, index=True),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("batch", sa.String(100), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("failed_items", sa.Text, nullable=False),
        sa.Column("sampled_on", sa.Date, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("spot_check")
    op.drop_table("known_enterprise")
