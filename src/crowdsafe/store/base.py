"""The storage plug-in point: what every backend promises.

``tests/test_store_contract.py`` holds these promises, one suite run against every
backend (SQLite, and a real throw-away PostgreSQL server).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crowdsafe.store.rollup import RollupMarks
from crowdsafe.types import Alert, AlertState, LineSample, ZoneRollup, ZoneSample

__all__ = ["Store"]


class Store(Protocol):
    """Keeps zone samples (aggregates only) and reads them back by time range."""

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        """Store samples; a sample for an existing (zone, bucket) replaces it."""
        ...

    def series(
        self,
        zone_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneSample]:
        """Samples of one zone with ``since <= t < until`` (Unix seconds), oldest first."""
        ...

    def hourly_counts(
        self, zone_id: str, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, float]]:
        """(UTC hour start, mean count) of each hour starting in ``[since, until)``,
        oldest first: the 1-h rollups' means."""
        ...

    def rollups(
        self,
        zone_id: str,
        resolution_s: int,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneRollup]:
        """A zone's 1-min (``resolution_s`` 60) or 1-h (3600) rollups starting in
        ``[since, until)``: the newest ``limit``, oldest first, as fresh as the raw
        samples (``store/rollup.py``); ValueError for another resolution."""
        ...

    def refresh_rollups(self, now: float) -> RollupMarks:
        """Roll up every complete minute and hour before ``now`` that is not yet, or
        that late samples changed; the watermarks it left."""
        ...

    def rollup_marks(self) -> RollupMarks:
        """Where the rolled-up minutes and hours end (None: nothing rolled up yet)."""
        ...

    def purge_rollups(self, resolution_s: int, before: float) -> int:
        """Delete the rollups of one resolution starting before ``before``; how many."""
        ...

    def prepare(self, now: float) -> None:
        """Make ahead what the writes after ``now`` need (PostgreSQL: its partitions)."""
        ...

    def latest(self, zone_id: str) -> ZoneSample | None:
        """The newest sample of a zone, or None if it has none."""
        ...

    def write_line_samples(self, samples: Sequence[LineSample]) -> None:
        """Store flow samples of counting lines (same replace rule, by line and ``t``):
        the provisional checkpoints of an open flow bucket rely on it to be replaced by
        the next one and, at last, by the bucket's closing sample."""
        ...

    def line_series(
        self,
        line_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[LineSample]:
        """Flow samples of one line with ``since <= t < until``, oldest first."""
        ...

    def purge(self, before: float) -> int:
        """Delete zone and line samples with ``t < before``, all or none; how many rows
        went.  Alerts are kept: retention of raw samples is not a reason to forget an
        incident."""
        ...

    def save_alert(self, alert: Alert) -> None:
        """Insert or update an alert by its id."""
        ...

    def alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[Alert]:
        """Alerts, newest first, optionally only in ``states`` and updated since ``since``."""
        ...

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def close(self) -> None: ...
