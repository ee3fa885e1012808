"""Vetted membership: domain allow-list, sign-up confirmation, access requests (issue #9)

Revision ID: c6e3f4a5b7d8
Revises: b5d2e3f4a6c7
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "c6e3f4a5b7d8"
down_revision = "b5d2e3f4a6c7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "allowed_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("municipality_id", "domain", name="uq_allowed_domains_municipality_domain"),
    )
    with op.batch_alter_table("allowed_domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allowed_domains_municipality_id"), ["municipality_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_allowed_domains_domain"), ["domain"], unique=False)

    op.create_table(
        "signup_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )

    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("motivation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_requests_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_requests_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_requests_municipality_id"), ["municipality_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_requests_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_requests_expires_at"))
        batch_op.drop_index(batch_op.f("ix_access_requests_status"))
        batch_op.drop_index(batch_op.f("ix_access_requests_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_access_requests_email"))
        batch_op.drop_index(batch_op.f("ix_access_requests_created_at"))
    op.drop_table("access_requests")
    op.drop_table("signup_confirmations")
    with op.batch_alter_table("allowed_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allowed_domains_domain"))
        batch_op.drop_index(batch_op.f("ix_allowed_domains_municipality_id"))
    op.drop_table("allowed_domains")
