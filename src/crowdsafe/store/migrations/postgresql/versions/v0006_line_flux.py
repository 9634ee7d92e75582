"""Each line sample's crossings counted without tracks (``measure/flux.py``).  Older
samples have none: NULL.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("flux_in", "flux_out")


def upgrade() -> None:
    adds = ", ".join(f"ADD COLUMN {name} double precision CHECK ({name} >= 0)" for name in _COLUMNS)
    op.execute(f"ALTER TABLE line_samples {adds}")


def downgrade() -> None:
    drops = ", ".join(f"DROP COLUMN {name}" for name in reversed(_COLUMNS))
    op.execute(f"ALTER TABLE line_samples {drops}")
