"""Exam plans and their draws, sampled candidates, papers, sittings and answers, key corrections, results,
summonses (约谈) and rectifications (督促整改).

Revision ID: 20261203_0003
Revises: 20261203_0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "20261203_0003"
down_revision = "20261203_0002"
branch_labels = None
depends_on = None

TABLES = (
    "exam_plan",
    "exam_draw",
    "exam_candidate",
    "exam_paper",
    "exam_sitting",
    "exam_answer",
    "exam_key_correction",
    "exam_result",
    "exam_summons",
    "exam_rectification",
)


def upgrade() -> None:
    op.create_table(
        "exam_answer",
        sa.Column("sitting_id", sa.String(length=36), nullable=False),
        sa.Column("question_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("points", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("sitting_id", "question_id"),
    )
    op.create_table(
        "exam_candidate",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("manager_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("station_code", sa.String(length=9), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("draw_round", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "manager_id"),
    )
    op.create_index(
        op.f("ix_exam_candidate_enterprise_id"), "exam_candidate", ["enterprise_id"], unique=False
    )
    op.create_index(op.f("ix_exam_candidate_manager_id"), "exam_candidate", ["manager_id"], unique=False)
    op.create_index(op.f("ix_exam_candidate_plan_id"), "exam_candidate", ["plan_id"], unique=False)
    op.create_index(op.f("ix_exam_candidate_region_code"), "exam_candidate", ["region_code"], unique=False)
    op.create_index(op.f("ix_exam_candidate_uscc"), "exam_candidate", ["uscc"], unique=False)
    op.create_table(
        "exam_draw",
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=30), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=False),
        sa.Column("drawn", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("drawn_by", sa.String(length=100), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "round"),
    )
    op.create_table(
        "exam_key_correction",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("question_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("old_answer", sa.Text(), nullable=False),
        sa.Column("new_answer", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rescored", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("corrected_by", sa.String(length=100), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_exam_key_correction_question_id"), "exam_key_correction", ["question_id"], unique=False
    )
    op.create_table(
        "exam_paper",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("manager_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("candidate_id", "attempt"),
    )
    op.create_index(op.f("ix_exam_paper_candidate_id"), "exam_paper", ["candidate_id"], unique=False)
    op.create_index(op.f("ix_exam_paper_manager_id"), "exam_paper", ["manager_id"], unique=False)
    op.create_index(op.f("ix_exam_paper_plan_id"), "exam_paper", ["plan_id"], unique=False)
    op.create_table(
        "exam_plan",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("organiser_region", sa.String(length=9), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("kinds", sa.Text(), nullable=False),
        sa.Column("product_categories", sa.Text(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=True),
        sa.Column("sample_ratio", sa.Float(), nullable=True),
        sa.Column("exclude_examined_within_months", sa.Integer(), nullable=False),
        sa.Column("pack", sa.String(length=60), nullable=False),
        sa.Column("blueprint", sa.Text(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("multiple_choice_scoring", sa.String(length=20), nullable=False),
        sa.Column("partial_share", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("draw_round", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("algorithm", sa.String(length=30), nullable=True),
        sa.Column("candidate_count", sa.Integer(), nullable=False),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("results_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("results_published_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_exam_plan_organiser_region"), "exam_plan", ["organiser_region"], unique=False)
    op.create_index(op.f("ix_exam_plan_status"), "exam_plan", ["status"], unique=False)
    op.create_table(
        "exam_rectification",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("manager_ids", sa.Text(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enterprise_id", "plan_id"),
    )
    op.create_index(
        op.f("ix_exam_rectification_enterprise_id"), "exam_rectification", ["enterprise_id"], unique=False
    )
    op.create_index(
        op.f("ix_exam_rectification_opened_on"), "exam_rectification", ["opened_on"], unique=False
    )
    op.create_index(op.f("ix_exam_rectification_plan_id"), "exam_rectification", ["plan_id"], unique=False)
    op.create_index(
        op.f("ix_exam_rectification_region_code"), "exam_rectification", ["region_code"], unique=False
    )
    op.create_index(op.f("ix_exam_rectification_status"), "exam_rectification", ["status"], unique=False)
    op.create_table(
        "exam_result",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sitting_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("manager_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("correction_of", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_exam_result_enterprise_id"), "exam_result", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_exam_result_manager_id"), "exam_result", ["manager_id"], unique=False)
    op.create_index(op.f("ix_exam_result_plan_id"), "exam_result", ["plan_id"], unique=False)
    op.create_index(op.f("ix_exam_result_published_on"), "exam_result", ["published_on"], unique=False)
    op.create_index(op.f("ix_exam_result_region_code"), "exam_result", ["region_code"], unique=False)
    op.create_index(op.f("ix_exam_result_sitting_id"), "exam_result", ["sitting_id"], unique=False)
    op.create_index(op.f("ix_exam_result_status"), "exam_result", ["status"], unique=False)
    op.create_table(
        "exam_sitting",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("paper_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("manager_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submission", sa.String(length=20), nullable=True),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("paper_id"),
    )
    op.create_index(op.f("ix_exam_sitting_candidate_id"), "exam_sitting", ["candidate_id"], unique=False)
    op.create_index(op.f("ix_exam_sitting_enterprise_id"), "exam_sitting", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_exam_sitting_manager_id"), "exam_sitting", ["manager_id"], unique=False)
    op.create_index(op.f("ix_exam_sitting_plan_id"), "exam_sitting", ["plan_id"], unique=False)
    op.create_index(op.f("ix_exam_sitting_region_code"), "exam_sitting", ["region_code"], unique=False)
    op.create_index(op.f("ix_exam_sitting_status"), "exam_sitting", ["status"], unique=False)
    op.create_table(
        "exam_summons",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("result_ids", sa.Text(), nullable=False),
        sa.Column("summoned_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column("held_by", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_exam_summons_enterprise_id"), "exam_summons", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_exam_summons_region_code"), "exam_summons", ["region_code"], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
