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
    pass


def downgrade():
    pass
