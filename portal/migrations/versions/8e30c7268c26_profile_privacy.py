"""profiles, private by design: consent scope/version/expiry, contact route,
introduction requests (issue #5)

Revision ID: 8e30c7268c26
Revises: 4c9e2a7d1f38
Create Date: 2026-11-29 20:20:00

The privacy officer role needs no schema change: ``users.role`` is a plain
string column. Region-only visibility is a new value of ``items.visibility``
(a plain string column too).
"""
from alembic import op
import sqlalchemy as sa


revision = "8e30c7268c26"
down_revision = "4c9e2a7d1f38"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_scope", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("consent_version", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("consent_expires", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("consent_reminded", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("contact_route", sa.String(length=20), nullable=True))

    op.create_table(
        "introduction_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        sa.Column("handled_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["profile_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["handled_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("introduction_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_introduction_requests_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_introduction_requests_requester_id"), ["requester_id"], unique=False)


def downgrade():
    with op.batch_alter_table("introduction_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_introduction_requests_requester_id"))
        batch_op.drop_index(batch_op.f("ix_introduction_requests_profile_id"))
    op.drop_table("introduction_requests")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("contact_route")
        batch_op.drop_column("consent_reminded")
        batch_op.drop_column("consent_expires")
        batch_op.drop_column("consent_version")
        batch_op.drop_column("consent_scope")
