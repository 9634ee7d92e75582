"""Density intervals, counting lines and alerts (hand-written schema version 2).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE zone_samples ADD COLUMN density_low_per_m2 REAL NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE zone_samples ADD COLUMN density_high_per_m2 REAL NOT NULL DEFAULT 0")
    op.execute(
        """
CREATE TABLE line_samples (
    camera_id      TEXT    NOT NULL,
    line_id        TEXT    NOT NULL,
    t              REAL    NOT NULL,  -- bucket start, Unix seconds
    bucket_s       REAL    NOT NULL,
    count_in       INTEGER NOT NULL,
    count_out      INTEGER NOT NULL,
    width_m        REAL    NOT NULL,
    flow_per_m_min REAL    NOT NULL,
    los            TEXT    NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    PRIMARY KEY (line_id, t)
) WITHOUT ROWID"""
    )
    op.execute(
        """
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    rule            TEXT NOT NULL,
    subject_kind    TEXT NOT NULL CHECK (subject_kind IN ('zone','line')),
    subject_id      TEXT NOT NULL,
    camera_id       TEXT NOT NULL,
    level           TEXT NOT NULL CHECK (level IN ('advisory','warning','critical')),
    state           TEXT NOT NULL CHECK (state IN ('open','acknowledged','resolved')),
    message         TEXT NOT NULL,
    value           REAL NOT NULL,
    threshold       REAL NOT NULL,
    opened_at       REAL NOT NULL,
    updated_at      REAL NOT NULL,
    acknowledged_at REAL,
    resolved_at     REAL
)"""
    )
    op.execute("CREATE INDEX alerts_by_state ON alerts (state, updated_at)")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.execute("DROP TABLE alerts")
    op.execute("DROP TABLE line_samples")
    op.execute("ALTER TABLE zone_samples DROP COLUMN density_high_per_m2")
    op.execute("ALTER TABLE zone_samples DROP COLUMN density_low_per_m2")
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
