"""Kept forms for visitors whose session is gone (issue #4)

Revision ID: d7f4a5b6c8e9
Revises: c6e3f4a5b7d8
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "d7f4a5b6c8e9"
down_revision = "c6e3f4a5b7d8"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
