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
    pass


def downgrade():
    pass
