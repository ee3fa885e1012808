"""Kept forms for visitors whose session is gone (issue #4)

Revision ID: d7f4a5b6c8e9
Revises: c6e3f4a5b7d8
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "d7f4a5b6c8e9"
down_revision = "c6e3f4a5b7d8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kept_forms_without_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("item_type", sa.String(length=20), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("kept_forms_without_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kept_forms_without_session_expires_at"), ["expires_at"], unique=False)


def downgrade():
    op.drop_table("kept_forms_without_session")
