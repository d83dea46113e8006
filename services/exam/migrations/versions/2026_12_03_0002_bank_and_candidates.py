"""The question bank (questions and their versions) and exam's projection of units and managers.

Revision ID: 20261203_0002
Revises: 20261123_0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "20261203_0002"
down_revision = "20261123_0001"
branch_labels = None
depends_on = None


def _content() -> list[sa.Column]:
    return [
        sa.Column("category", sa.String(30), nullable=False, index=True),
        sa.Column("for_director", sa.Boolean, nullable=False),
        sa.Column("for_officer", sa.Boolean, nullable=False),
        sa.Column("for_production", sa.Boolean, nullable=False),
        sa.Column("for_sales", sa.Boolean, nullable=False),
        sa.Column("product_categories", sa.Text, nullable=False),
        sa.Column("type", sa.String(20), nullable=False, index=True),
        sa.Column("stem", sa.Text, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("difficulty", sa.Integer, nullable=False),
        sa.Column("source", sa.String(500)),
        sa.Column("explanation", sa.Text),
        sa.Column("content_sha256", sa.String(64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "question",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_region", sa.String(6), nullable=False, index=True),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        *_content(),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_by", sa.String(100)),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("owner_region", "code", name="uq_question_owner_region"),
    )
    op.create_table(
        "question_version",
        sa.Column("question_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        *_content(),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "exam_unit",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("station_code", sa.String(9), index=True),
        sa.Column("product_categories", sa.Text, nullable=False),
        sa.Column("operating_status", sa.String(30), nullable=False),
    )
    op.create_table(
        "exam_manager",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), nullable=False, index=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("appointed_on", sa.Date, nullable=False),
        sa.Column("removed_on", sa.Date),
    )


def downgrade() -> None:
    for table in ("exam_manager", "exam_unit", "question_version", "question"):
        op.drop_table(table)
