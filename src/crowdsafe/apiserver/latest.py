"""Each zone's latest sample, read once when an API server (re)connects to the feed.

Why one index probe per zone: the samples table's primary key is ``(zone_id, t)`` in
each daily partition, so "the newest row of this zone since T" is one short descent of
an index.  A ``DISTINCT ON (zone_id)`` over a window would read every row of it instead
(24,000 zones x 600 s is 14 M rows for a 10-min window); the ``LATERAL`` join over the
config's zone ids reads one row per zone, in chunks so that no statement is huge.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from crowdsafe.errors import StoreError
from crowdsafe.store.codec import Codec
from crowdsafe.types import ZoneSample

__all__ = ["load_latest"]

_ZONES = Codec(ZoneSample, native_bool=True)
_QUERY = (
    f"SELECT s.* FROM unnest(%s::text[]) AS z(id) CROSS JOIN LATERAL ("
    f"SELECT {_ZONES.columns} FROM zone_samples "
    f"WHERE zone_id = z.id AND t >= %s ORDER BY t DESC LIMIT 1) AS s"
)


def load_latest(
    dsn: str, zone_ids: Sequence[str], since: float, chunk: int = 4000
) -> list[ZoneSample]:
    """The newest sample at or after ``since`` of each of ``zone_ids`` that has one.
    StoreError when the database cannot be read."""
    out: list[ZoneSample] = []
    try:
        with psycopg.connect(dsn, application_name="crowdsafe-latest") as conn:
            for i in range(0, len(zone_ids), chunk):
                rows = conn.execute(_QUERY, (list(zone_ids[i : i + chunk]), since)).fetchall()
                out.extend(_ZONES.read(r) for r in rows)
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the latest zone samples: {exc}") from exc
    return out
