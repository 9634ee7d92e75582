"""Each zone sample's crowd speed and its spread (``measure/motion.py``) and its time to
clear through the zone's exits (schema version 6).  Samples stored before either was
measured have none: NULL.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("speed_m_s", "speed_sd_m_s", "time_to_clear_min")


def upgrade() -> None:
    for name in _COLUMNS:
        op.execute(f"ALTER TABLE zone_samples ADD COLUMN {name} REAL CHECK ({name} >= 0)")
    op.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE zone_samples DROP COLUMN {name}")
    op.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
