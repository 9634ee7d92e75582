"""The storage plug-in point: what every backend promises.

``tests/test_store_contract.py`` holds these promises, one suite run against every
backend (SQLite, and a real throw-away PostgreSQL server).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crowdsafe.types import Alert, AlertState, LineSample, ZoneSample

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
        """(UTC hour start, mean count) per hour, oldest first."""
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
