"""Graded enterprises, the risk-signal ledger and the messaging tables.

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
        "graded_enterprise",
        sa.Column("enterprise_id", sa.String(36), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(20), nullable=True),
        sa.Column("sales_channel", sa.String(20), nullable=True),
        sa.Column("employees", sa.Integer, nullable=True),
        sa.Column("revenue_wan_yuan", sa.Float, nullable=True),
        sa.Column("tier", sa.String(1), nullable=True, index=True),
        sa.Column("tier_rule", sa.String(100), nullable=True),
        sa.Column("tier_reason", sa.Text, nullable=True),
        sa.Column("supervision_class", sa.String(20), nullable=False, index=True),
        sa.Column("class_rule", sa.String(100), nullable=False),
        sa.Column("class_reason", sa.Text, nullable=False),
        sa.Column("class_evidence", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "risk_signal",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("source_type", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("risk_signal")
    op.drop_table("graded_enterprise")
