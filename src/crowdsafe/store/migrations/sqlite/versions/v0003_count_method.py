"""What counted the people: detection or the density model (schema version 3).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE zone_samples ADD COLUMN method TEXT NOT NULL DEFAULT 'detection' "
        "CHECK (method IN ('detection','density'))"
    )
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.execute("ALTER TABLE zone_samples DROP COLUMN method")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
