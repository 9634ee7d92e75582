"""Each zone sample's crowd speed and its spread (``measure/motion.py``) and its time to
clear through the zone's exits.  Samples stored before either was measured have none:
NULL.  Added to the partitioned parent, so every partition, made or to be made, has them.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = ("speed_m_s", "speed_sd_m_s", "time_to_clear_min")


def upgrade() -> None:
    adds = ", ".join(f"ADD COLUMN {name} double precision CHECK ({name} >= 0)" for name in _COLUMNS)
    op.execute(f"ALTER TABLE zone_samples {adds}")


def downgrade() -> None:
    drops = ", ".join(f"DROP COLUMN {name}" for name in reversed(_COLUMNS))
    op.execute(f"ALTER TABLE zone_samples {drops}")
