"""The messaging tables; the question bank and exams come with the exam issue.

Revision ID: 20261123_0001
Revises:
Create Date: 2026-11-23
"""

from services.common.messaging import create_messaging_tables

revision = "20261123_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    pass
