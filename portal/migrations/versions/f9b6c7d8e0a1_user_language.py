"""A user's interface language, also used for their e-mails (issue #8)

Revision ID: f9b6c7d8e0a1
Revises: e8a5b6c7d9f0
Create Date: 2026-11-30 02:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "f9b6c7d8e0a1"
down_revision = "e8a5b6c7d9f0"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no default: existing users never chose, which means Dutch.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=5), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
