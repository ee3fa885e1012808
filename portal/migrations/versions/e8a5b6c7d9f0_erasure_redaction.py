"""Erasure of names in free text (issue #5)

Revision ID: e8a5b6c7d9f0
Revises: d7f4a5b6c8e9
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "e8a5b6c7d9f0"
down_revision = "d7f4a5b6c8e9"
branch_labels = None
depends_on = None


def upgrade():
    # No schema change: the erasure redacts names in the existing text columns
    # in place (portal/services/people_redaction.py), and new profiles get
    # opaque slugs (services/items.opaque_profile_slug) in the existing column.
    # Existing profile slugs stay as they are: links and imports keep working.
    pass


def downgrade():
    pass
