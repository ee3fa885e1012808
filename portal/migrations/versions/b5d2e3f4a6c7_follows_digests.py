"""Following themes, phases, places and collections; digests (issue #9)

Revision ID: b5d2e3f4a6c7
Revises: a4c1d2e3f5b6
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "b5d2e3f4a6c7"
down_revision = "a4c1d2e3f5b6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "follows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "kind", "key", name="uq_follows_user_kind_key"),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follows_user_id"), ["user_id"], unique=False)

    op.create_table(
        "digest_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("last_digest_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )

    op.create_table(
        "follow_news",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("follow_news", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_news_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_follow_news_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_follow_news_collection_id"), ["collection_id"], unique=False)

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html_body", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("headers", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("headers")
        batch_op.drop_column("html_body")
    with op.batch_alter_table("follow_news", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_news_collection_id"))
        batch_op.drop_index(batch_op.f("ix_follow_news_item_id"))
        batch_op.drop_index(batch_op.f("ix_follow_news_created_at"))
    op.drop_table("follow_news")
    op.drop_table("digest_settings")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follows_user_id"))
    op.drop_table("follows")
