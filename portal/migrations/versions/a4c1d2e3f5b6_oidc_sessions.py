"""OIDC identities and per-device sessions (issue #7)

Revision ID: a4c1d2e3f5b6
Revises: 5e2b9c71a4d8
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "a4c1d2e3f5b6"
down_revision = "5e2b9c71a4d8"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
