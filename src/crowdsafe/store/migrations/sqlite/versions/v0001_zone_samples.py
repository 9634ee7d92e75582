"""The first schema: zone samples (crowdsafe's hand-written schema version 1).

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    op.execute(
        """
CREATE TABLE zone_samples (
    camera_id      TEXT    NOT NULL,
    zone_id        TEXT    NOT NULL,
    t              REAL    NOT NULL,  -- bucket start, Unix seconds
    count          REAL    NOT NULL,  -- mean persons detected over the bucket's frames
    count_max      INTEGER NOT NULL,  -- peak persons detected in one frame of the bucket
    area_m2        REAL    NOT NULL,
    density_per_m2 REAL    NOT NULL,  -- estimated true density
    los            TEXT    NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    frames         INTEGER NOT NULL,
    PRIMARY KEY (zone_id, t)
) WITHOUT ROWID"""
    )
    op.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    op.execute("DROP TABLE zone_samples")
    op.execute("DROP TABLE meta")
