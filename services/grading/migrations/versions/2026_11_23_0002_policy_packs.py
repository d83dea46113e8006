"""Policy-pack decisions: responsible level, escalation, locking, manual decisions, history, annual lists.

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
    with op.batch_alter_table("graded_enterprise") as batch:
        batch.add_column(sa.Column("uscc", sa.String(18), nullable=True))
        batch.add_column(sa.Column("size_as_of", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("class_source", sa.String(20), nullable=False, server_default="automatic"))
        batch.add_column(
            sa.Column("automatic_class", sa.String(20), nullable=False, server_default="routine")
        )
        batch.add_column(sa.Column("responsible_level", sa.String(20), nullable=True))
        batch.add_column(sa.Column("responsible_region", sa.String(6), nullable=True))
        batch.add_column(sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("pack", sa.String(40), nullable=True))
        batch.add_column(sa.Column("pack_version", sa.String(40), nullable=True))
        batch.add_column(sa.Column("decision", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("released_on", sa.Date, nullable=True))
        batch.create_index("ix_graded_enterprise_responsible_level", ["responsible_level"])
        batch.create_index("ix_graded_enterprise_locked", ["locked"])
        batch.create_index("ix_graded_enterprise_uscc", ["uscc"], unique=True)
    with op.batch_alter_table("risk_signal") as batch:
        batch.alter_column("enterprise_id", existing_type=sa.String(36), nullable=True)
        batch.add_column(sa.Column("uscc", sa.String(18), nullable=True))
        batch.create_index("ix_risk_signal_uscc", ["uscc"])
        batch.add_column(sa.Column("heavier", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("credit_class", sa.String(1), nullable=True))
        batch.add_column(sa.Column("ref", sa.String(64), nullable=True))
        batch.add_column(sa.Column("recorded_by", sa.String(100), nullable=True))
    op.create_table(
        "manual_decision",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), nullable=False, index=True),
        sa.Column("supervision_class", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("decided_by_region", sa.String(6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
    )
    op.create_table(
        "decision_history",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), nullable=False, index=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("cause_id", sa.String(36), nullable=True),
        sa.Column("tier", sa.String(1), nullable=True),
        sa.Column("supervision_class", sa.String(20), nullable=False),
        sa.Column("class_source", sa.String(20), nullable=False),
        sa.Column("responsible_level", sa.String(20), nullable=True),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False),
        sa.Column("pack", sa.String(40), nullable=False),
        sa.Column("pack_version", sa.String(40), nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
    )
    op.create_table(
        "annual_list_entry",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("supervision_class", sa.String(20), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("listed_on", sa.Date, nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "annual_list_freeze",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("annual_list_freeze")
    op.drop_table("annual_list_entry")
    op.drop_table("decision_history")
    op.drop_table("manual_decision")
    with op.batch_alter_table("risk_signal") as batch:
        batch.drop_index("ix_risk_signal_uscc")
        for name in ("recorded_by", "ref", "credit_class", "heavier", "uscc"):
            batch.drop_column(name)
        batch.alter_column("enterprise_id", existing_type=sa.String(36), nullable=False)
    with op.batch_alter_table("graded_enterprise") as batch:
        batch.drop_index("ix_graded_enterprise_uscc")
        batch.drop_index("ix_graded_enterprise_locked")
        batch.drop_index("ix_graded_enterprise_responsible_level")
        for name in (
            "released_on",
            "decision",
            "pack_version",
            "pack",
            "locked",
            "escalated",
            "responsible_region",
            "responsible_level",
            "automatic_class",
            "class_source",
            "size_as_of",
            "uscc",
        ):
            batch.drop_column(name)
