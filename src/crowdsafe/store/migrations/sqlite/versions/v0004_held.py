"""Samples held over an unchanged scene (schema version 4).  Samples stored before
frames could be held were all analysed afresh: 0 is true of them.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE zone_samples ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1))"
    )
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.execute("ALTER TABLE zone_samples DROP COLUMN held")
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
