"""Field work: rosters, plans, on-site inspections from phones, evidence files, findings,
rectifications, enforcement cases, complaints, oversight audits; more of each spot check and unit.

Revision ID: 20261125_0003
Revises: 20261123_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "20261125_0003"
down_revision = "20261123_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The relay reads the oldest unpublished events; after a bulk import the outbox holds hundreds of
    # thousands, and without this index every batch sorted them all (190 ms a batch at 250k on PostgreSQL).
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "complaint",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("inspection_id", sa.String(length=36), nullable=True),
        sa.Column("received_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_region_code"), ["region_code"], unique=False)

    op.create_table(
        "enforcement_case",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=True),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("warning", sa.Boolean(), nullable=False),
        sa.Column("fine_yuan", sa.Float(), nullable=False),
        sa.Column("confiscated_yuan", sa.Float(), nullable=False),
        sa.Column("heavier", sa.Boolean(), nullable=False),
        sa.Column("penalised", sa.Boolean(), nullable=True),
        sa.Column("decision_number", sa.String(length=100), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_case")),
    )
    with op.batch_alter_table("enforcement_case", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enforcement_case_enterprise_id"), ["enterprise_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_enforcement_case_region_code"), ["region_code"], unique=False)

    op.create_table(
        "evidence_file",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_kind", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("device_taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_file")),
    )
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_file_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "finding",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding")),
    )
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finding_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_finding_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_finding_source_id"), ["source_id"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_record")),
    )
    op.create_table(
        "inspection",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("trigger_ref", sa.String(length=36), nullable=True),
        sa.Column("template", sa.String(length=50), nullable=False),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("checklist", sa.Text(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("conclusion", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("inspectors", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=True),
        sa.Column("device_seq", sa.Integer(), nullable=False),
        sa.Column("device_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("gps_accuracy_m", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection")),
    )
    with op.batch_alter_table("inspection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index("ix_inspection_region_status", ["region_code", "status"], unique=False)

    op.create_table(
        "inspection_plan",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=9), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=False),
        sa.Column("seed", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_plan")),
    )
    with op.batch_alter_table("inspection_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_plan_region_code"), ["region_code"], unique=False)

    op.create_table(
        "inspector",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("region_code", sa.String(length=9), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("conflicts", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_inspector")),
    )
    with op.batch_alter_table("inspector", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspector_region_code"), ["region_code"], unique=False)

    op.create_table(
        "oversight_audit",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("auditor_region", sa.String(length=9), nullable=False),
        sa.Column("audited_region", sa.String(length=9), nullable=False),
        sa.Column("template", sa.String(length=50), nullable=False),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_audit")),
    )
    with op.batch_alter_table("oversight_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oversight_audit_audited_region"), ["audited_region"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oversight_audit_auditor_region"), ["auditor_region"], unique=False
        )

    op.create_table(
        "inspection_revision",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=True),
        sa.Column("device_seq", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("made_by", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspection.id"], name=op.f("fk_inspection_revision_inspection_id_inspection")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_revision")),
        sa.UniqueConstraint("inspection_id", "version", name=op.f("uq_inspection_revision_inspection_id")),
        sa.UniqueConstraint(
            "device_id", "device_seq", "inspection_id", name=op.f("uq_inspection_revision_device_id")
        ),
    )
    with op.batch_alter_table("inspection_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_revision_inspection_id"), ["inspection_id"], unique=False
        )

    op.create_table(
        "plan_entry",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("inspectors", sa.Text(), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["inspection_plan.id"], name=op.f("fk_plan_entry_plan_id_inspection_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_entry")),
        sa.UniqueConstraint("plan_id", "enterprise_id", name=op.f("uq_plan_entry_plan_id")),
    )
    with op.batch_alter_table("plan_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_entry_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_entry_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "rectification",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("finding_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("requirement", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evidence_note", sa.Text(), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("verified_by", sa.String(length=100), nullable=True),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("verification_note", sa.Text(), nullable=True),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("ordered_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["finding.id"], name=op.f("fk_rectification_finding_id_finding")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification")),
    )
    with op.batch_alter_table("rectification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rectification_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rectification_finding_id"), ["finding_id"], unique=False)
        batch_op.create_index("ix_rectification_overdue", ["status", "deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_rectification_region_code"), ["region_code"], unique=False)

    with op.batch_alter_table("known_enterprise", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uscc", sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column("sales_channel", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("station_code", sa.String(length=9), nullable=True))
        batch_op.add_column(
            sa.Column(
                "operating_status", sa.String(length=30), nullable=False, server_default=sa.text("'normal'")
            )
        )
        batch_op.add_column(
            sa.Column(
                "supervision_class", sa.String(length=20), nullable=False, server_default=sa.text("'routine'")
            )
        )
        batch_op.add_column(sa.Column("locked", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("visit_every_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("responsible_inspector", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("locked_since", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("risk_points", sa.Text(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.create_index(batch_op.f("ix_known_enterprise_locked"), ["locked"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_known_enterprise_supervision_class"), ["supervision_class"], unique=False
        )

    with op.batch_alter_table("spot_check", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("standard", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("sampled_at", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default=sa.text("'spot_check'"))
        )
        batch_op.add_column(sa.Column("lab", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("result_received_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("retest_applied_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("follow_up_status", sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", "outbox")
    with op.batch_alter_table("spot_check", schema=None) as batch_op:
        batch_op.drop_column("follow_up_status")
        batch_op.drop_column("retest_applied_on")
        batch_op.drop_column("result_received_on")
        batch_op.drop_column("lab")
        batch_op.drop_column("kind")
        batch_op.drop_column("sampled_at")
        batch_op.drop_column("standard")
        batch_op.drop_column("category_code")

    with op.batch_alter_table("known_enterprise", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_enterprise_supervision_class"))
        batch_op.drop_index(batch_op.f("ix_known_enterprise_locked"))
        batch_op.drop_column("risk_points")
        batch_op.drop_column("locked_since")
        batch_op.drop_column("responsible_inspector")
        batch_op.drop_column("visit_every_months")
        batch_op.drop_column("locked")
        batch_op.drop_column("supervision_class")
        batch_op.drop_column("operating_status")
        batch_op.drop_column("station_code")
        batch_op.drop_column("sales_channel")
        batch_op.drop_column("uscc")

    with op.batch_alter_table("rectification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectification_region_code"))
        batch_op.drop_index("ix_rectification_overdue")
        batch_op.drop_index(batch_op.f("ix_rectification_finding_id"))
        batch_op.drop_index(batch_op.f("ix_rectification_enterprise_id"))

    op.drop_table("rectification")
    with op.batch_alter_table("plan_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_entry_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_entry_enterprise_id"))

    op.drop_table("plan_entry")
    with op.batch_alter_table("inspection_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_revision_inspection_id"))

    op.drop_table("inspection_revision")
    with op.batch_alter_table("oversight_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oversight_audit_auditor_region"))
        batch_op.drop_index(batch_op.f("ix_oversight_audit_audited_region"))

    op.drop_table("oversight_audit")
    with op.batch_alter_table("inspector", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspector_region_code"))

    op.drop_table("inspector")
    with op.batch_alter_table("inspection_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_plan_region_code"))

    op.drop_table("inspection_plan")
    with op.batch_alter_table("inspection", schema=None) as batch_op:
        batch_op.drop_index("ix_inspection_region_status")
        batch_op.drop_index(batch_op.f("ix_inspection_enterprise_id"))

    op.drop_table("inspection")
    op.drop_table("idempotency_record")
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_source_id"))
        batch_op.drop_index(batch_op.f("ix_finding_region_code"))
        batch_op.drop_index(batch_op.f("ix_finding_enterprise_id"))

    op.drop_table("finding")
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_file_owner_id"))

    op.drop_table("evidence_file")
    with op.batch_alter_table("enforcement_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enforcement_case_region_code"))
        batch_op.drop_index(batch_op.f("ix_enforcement_case_enterprise_id"))

    op.drop_table("enforcement_case")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_region_code"))
        batch_op.drop_index(batch_op.f("ix_complaint_enterprise_id"))

    op.drop_table("complaint")
