"""The enterprise read model and the messaging tables.

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
        "reported_enterprise",
        sa.Column("enterprise_id", sa.String(36), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("registered", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(20), nullable=True),
        sa.Column("tier", sa.String(1), nullable=True),
        sa.Column("supervision_class", sa.String(20), nullable=False),
        sa.Column("failed_spot_checks", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reported_enterprise")
