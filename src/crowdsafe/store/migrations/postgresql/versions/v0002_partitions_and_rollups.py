"""Time partitions for the samples, and the 1-minute and 1-hour rollups
(``store/partitions.py``, ``store/rollup.py``).

The sample tables are made anew as ``PARTITION BY RANGE (t)`` with a partition for each
day that holds rows, their rows moved in, and the old tables dropped, all in this
revision's transaction.  ``meta.schema_version`` goes to 2 so that a crowdsafe from
before Alembic refuses the database instead of writing to it.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from crowdsafe.store.partitions import create_sql, starts_between

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ROLLUP = """
CREATE TABLE {table} (
    camera_id           text             NOT NULL,
    zone_id             text             NOT NULL,
    t                   double precision NOT NULL,  -- start of the minute or hour
    bucket_s            double precision NOT NULL,
    samples             integer          NOT NULL,  -- stored buckets aggregated
    frames              integer          NOT NULL,
    count_mean          double precision NOT NULL,
    count_max           integer          NOT NULL,
    area_m2             double precision NOT NULL,
    density_mean_per_m2 double precision NOT NULL,
    density_max_per_m2  double precision NOT NULL,
    los_max             text             NOT NULL CHECK (los_max IN ('A','B','C','D','E','F')),
    held                integer          NOT NULL,  -- samples of an unchanged scene
    PRIMARY KEY (zone_id, t)
) PARTITION BY RANGE (t)"""


def _partition(table: str, key: str) -> None:
    old = f"{table}_unpartitioned"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey")
    op.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        f"PRIMARY KEY ({key}, t)) PARTITION BY RANGE (t)"
    )
    lo, hi = op.get_bind().exec_driver_sql(f"SELECT min(t), max(t) FROM {old}").one()
    if lo is not None:
        for start in starts_between(table, lo, hi):
            op.execute(create_sql(table, start))
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")


def upgrade() -> None:
    _partition("zone_samples", "zone_id")
    _partition("line_samples", "line_id")
    op.execute(_ROLLUP.format(table="zone_rollups_1m"))
    op.execute(_ROLLUP.format(table="zone_rollups_1h"))
    op.execute(
        "CREATE TABLE rollup_state ("
        " id integer PRIMARY KEY CHECK (id = 1),"
        " minute_until double precision,"  # every minute before it is rolled up
        " hour_until double precision,"
        " dirty_since double precision)"  # a late sample this old came below minute_until
    )
    op.execute("INSERT INTO rollup_state (id) VALUES (1)")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    raise NotImplementedError("the partitioned schema is not taken back; restore a backup")
