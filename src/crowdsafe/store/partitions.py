"""PostgreSQL's time partitions: which tables are partitioned, by how long, and how a
partition is named.

Every table that grows with time is ``PARTITION BY RANGE (t)`` with fixed-width
partitions aligned on the Unix epoch (UTC): the raw samples by day, the 1-min rollups
by week (epoch weeks start on a Thursday), the 1-h rollups by 28 days.  Why fixed
widths and not calendar months: a partition's bounds are then a floor division of
``t``, the same in Python and in SQL, and every partition of a table holds the same
span, so retention drops whole partitions at a predictable age.

A partition is named ``<table>_p<YYYYMMDD>`` after its first UTC day.  Partitions are
made ahead by :meth:`~crowdsafe.store.postgres.PostgresStore.prepare` (the maintenance
loop) and, for a sample outside them (a copied history, a clock far off), by the write
that needs one; retention drops the partitions that end before its horizon.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = [
    "WIDTH_S",
    "create_sql",
    "partition_name",
    "partition_start",
    "start_of",
    "starts_between",
]

WIDTH_S: dict[str, int] = {
    "zone_samples": 86_400,
    "line_samples": 86_400,
    "zone_rollups_1m": 7 * 86_400,
    "zone_rollups_1h": 28 * 86_400,
}
"""The partitioned tables and the span of one partition, seconds."""


def partition_start(table: str, t: float) -> int:
    width = WIDTH_S[table]
    return math.floor(t / width) * width


def partition_name(table: str, start: int) -> str:
    day = datetime.fromtimestamp(start, UTC).strftime("%Y%m%d")
    return f"{table}_p{day}"


def starts_between(table: str, lo: float, hi: float) -> list[int]:
    """The starts of every partition of ``table`` that holds a ``t`` in ``[lo, hi]``."""
    width = WIDTH_S[table]
    first = partition_start(table, lo)
    return list(range(first, partition_start(table, hi) + 1, width))


def create_sql(table: str, start: int) -> str:
    """Makes one partition of ``table`` unless it exists (its bounds are integers)."""
    end = start + WIDTH_S[table]
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, start)} PARTITION OF {table} "
        f"FOR VALUES FROM ({start}) TO ({end})"
    )


def start_of(table: str, name: str) -> int:
    """The start of a partition of ``table`` from its name (``<table>_pYYYYMMDD``)."""
    day = datetime.strptime(name.removeprefix(f"{table}_p"), "%Y%m%d").replace(tzinfo=UTC)
    return int(day.timestamp())
