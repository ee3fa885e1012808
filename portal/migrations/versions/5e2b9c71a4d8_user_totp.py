"""TOTP second factor columns on users (issue #7)

Revision ID: 5e2b9c71a4d8
Revises: d3a91f5c7e20
Create Date: 2026-11-29 21:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = "5e2b9c71a4d8"
down_revision = "d3a91f5c7e20"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("totp_recovery_codes", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_recovery_codes")
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled_at")
        batch.drop_column("totp_secret")
