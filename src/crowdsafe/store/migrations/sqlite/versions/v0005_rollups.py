"""1-minute and 1-hour rollups of the zone samples, and their watermarks
(``store/rollup.py``).  ``meta.schema_version`` goes to 5 so that a crowdsafe from
before Alembic refuses the file instead of writing to it without its rollups.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ROLLUP = """
CREATE TABLE {table} (
    camera_id           TEXT    NOT NULL,
    zone_id             TEXT    NOT NULL,
    t                   REAL    NOT NULL,  -- start of the minute or hour, Unix seconds
    bucket_s            REAL    NOT NULL,
    samples             INTEGER NOT NULL,  -- stored buckets aggregated
    frames              INTEGER NOT NULL,
    count_mean          REAL    NOT NULL,
    count_max           INTEGER NOT NULL,
    area_m2             REAL    NOT NULL,
    density_mean_per_m2 REAL    NOT NULL,
    density_max_per_m2  REAL    NOT NULL,
    los_max             TEXT    NOT NULL CHECK (los_max IN ('A','B','C','D','E','F')),
    held                INTEGER NOT NULL,  -- samples that repeated an unchanged scene
    PRIMARY KEY (zone_id, t)
) WITHOUT ROWID"""


def upgrade() -> None:
    op.execute(_ROLLUP.format(table="zone_rollups_1m"))
    op.execute(_ROLLUP.format(table="zone_rollups_1h"))
    op.execute(
        """
CREATE TABLE rollup_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    minute_until REAL,  -- every minute before it is rolled up; NULL: none yet
    hour_until   REAL,
    dirty_since  REAL   -- a late sample this old was written below minute_until
)"""
    )
    op.execute("INSERT INTO rollup_state (id) VALUES (1)")
    op.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.execute("DROP TABLE rollup_state")
    op.execute("DROP TABLE zone_rollups_1h")
    op.execute("DROP TABLE zone_rollups_1m")
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
