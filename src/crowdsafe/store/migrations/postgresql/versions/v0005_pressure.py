"""Each zone sample's crowd pressure and its speed against the fundamental diagram
(``measure/pressure.py``).  Older samples have neither: NULL.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = ("pressure_per_s2", "fd_speed_ratio")


def upgrade() -> None:
    adds = ", ".join(f"ADD COLUMN {name} double precision CHECK ({name} >= 0)" for name in _COLUMNS)
    op.execute(f"ALTER TABLE zone_samples {adds}")


def downgrade() -> None:
    drops = ", ".join(f"DROP COLUMN {name}" for name in reversed(_COLUMNS))
    op.execute(f"ALTER TABLE zone_samples {drops}")
