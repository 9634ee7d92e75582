"""The storage plug-in point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crowdsafe.types import ZoneSample

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

    def latest(self, zone_id: str) -> ZoneSample | None:
        """The newest sample of a zone, or None if it has none."""
        ...

    def close(self) -> None: ...
