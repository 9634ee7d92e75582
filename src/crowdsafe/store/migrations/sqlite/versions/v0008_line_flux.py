"""Each line sample's crossings counted without tracks (``measure/flux.py``; schema
version 8).  Older samples have none: NULL.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = ("flux_in", "flux_out")


def upgrade() -> None:
    for name in _COLUMNS:
        op.execute(f"ALTER TABLE line_samples ADD COLUMN {name} REAL CHECK ({name} >= 0)")
    op.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE line_samples DROP COLUMN {name}")
    op.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
