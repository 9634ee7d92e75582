"""The first PostgreSQL schema: zone samples, line samples and alerts, as the SQLite
schema's version 4 has them (crowdsafe's hand-written PostgreSQL schema version 1).

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SCHEMA = """
CREATE TABLE zone_samples (
    camera_id           text             NOT NULL,
    zone_id             text             NOT NULL,
    t                   double precision NOT NULL,  -- bucket start, Unix seconds
    count               double precision NOT NULL,  -- mean persons detected per frame
    count_max           integer          NOT NULL,  -- peak persons in one frame
    area_m2             double precision NOT NULL,
    density_per_m2      double precision NOT NULL,
    los                 text             NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    frames              integer          NOT NULL,
    density_low_per_m2  double precision NOT NULL DEFAULT 0,
    density_high_per_m2 double precision NOT NULL DEFAULT 0,
    method              text             NOT NULL DEFAULT 'detection'
                                         CHECK (method IN ('detection','density')),
    held                boolean          NOT NULL DEFAULT false,
    PRIMARY KEY (zone_id, t)
);
CREATE TABLE line_samples (
    camera_id      text             NOT NULL,
    line_id        text             NOT NULL,
    t              double precision NOT NULL,  -- bucket start, Unix seconds
    bucket_s       double precision NOT NULL,
    count_in       integer          NOT NULL,
    count_out      integer          NOT NULL,
    width_m        double precision NOT NULL,
    flow_per_m_min double precision NOT NULL,
    los            text             NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    PRIMARY KEY (line_id, t)
);
CREATE TABLE alerts (
    id              text PRIMARY KEY,
    rule            text NOT NULL,
    subject_kind    text NOT NULL CHECK (subject_kind IN ('zone','line')),
    subject_id      text NOT NULL,
    camera_id       text NOT NULL,
    level           text NOT NULL CHECK (level IN ('advisory','warning','critical')),
    state           text NOT NULL CHECK (state IN ('open','acknowledged','resolved')),
    message         text NOT NULL,
    value           double precision NOT NULL,
    threshold       double precision NOT NULL,
    opened_at       double precision NOT NULL,
    updated_at      double precision NOT NULL,
    acknowledged_at double precision,
    resolved_at     double precision
);
CREATE INDEX alerts_by_state ON alerts (state, updated_at);
"""


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)")
    for statement in filter(str.strip, _SCHEMA.split(";")):
        op.execute(statement)
    op.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = '1'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE alerts, line_samples, zone_samples, meta")
