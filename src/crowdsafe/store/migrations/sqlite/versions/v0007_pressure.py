"""Each zone sample's crowd pressure and its speed against the fundamental diagram
(``measure/pressure.py``; schema version 7).  Older samples have neither: NULL.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ("pressure_per_s2", "fd_speed_ratio")


def upgrade() -> None:
    for name in _COLUMNS:
        op.execute(f"ALTER TABLE zone_samples ADD COLUMN {name} REAL CHECK ({name} >= 0)")
    op.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE zone_samples DROP COLUMN {name}")
    op.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
