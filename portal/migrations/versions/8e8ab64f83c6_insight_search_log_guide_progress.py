"""insight: anonymous search log and guide progress per municipality (issue #9)

Revision ID: 8e8ab64f83c6
Revises: 8659009bcfaa
Create Date: 2026-11-29 20:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = "8e8ab64f83c6"
down_revision = "8659009bcfaa"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "search_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_search_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_search_log_query"), ["query"], unique=False)

    op.create_table(
        "guide_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("municipality_id", "step", name="uq_guide_progress_municipality_step"),
    )
    with op.batch_alter_table("guide_progress", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guide_progress_municipality_id"), ["municipality_id"], unique=False)


def downgrade():
    with op.batch_alter_table("guide_progress", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guide_progress_municipality_id"))
    op.drop_table("guide_progress")
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_log_query"))
        batch_op.drop_index(batch_op.f("ix_search_log_at"))
    op.drop_table("search_log")
