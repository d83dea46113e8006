"""The enterprise ledger and the messaging tables.

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
        "enterprise",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sales_channel", sa.String(20), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("employees", sa.Integer, nullable=False),
        sa.Column("revenue_wan_yuan", sa.Float, nullable=False),
        sa.Column("entry_reason", sa.String(40), nullable=False),
        sa.Column("operating_status", sa.String(30), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("enterprise")
