"""The store's maintenance: partitions made ahead, rollups refreshed, retention applied.

One round (:meth:`StoreMaintenance.run_once`) does, in this order:

1. ``store.prepare(now)``: PostgreSQL makes the partitions the next writes need, so a
   write never waits on making one (a no-op in SQLite);
2. ``store.refresh_rollups(now)``: every complete minute and hour rolled up;
3. retention (``storage.retention``): raw samples before
   ``min(now - samples_days, minute_until)``, 1-min rollups before
   ``min(now - minutes_days, hour_until)``, 1-h rollups before ``now - hours_days``.

Why the watermarks bound the horizons: a raw row that is not yet rolled up (the
database was down for days, a backlog was written late) is the only copy of its
minute; purging it by age alone would lose that minute from every resolution.  With
no watermark yet (nothing rolled up), nothing is purged.

Why a failed round is only logged: a database outage must not end the loop, and every
step is idempotent, so the next round (``rollup_interval_s`` later) redoes what this
one could not.  :class:`MaintenanceLoop` runs the rounds on a daemon thread that stops
at once on :meth:`MaintenanceLoop.stop`; its facts (:class:`MaintenanceStatus`) are
what ``/metrics`` shows (``crowdsafe_store_rollup_lag_seconds``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from crowdsafe.errors import StoreError
from crowdsafe.store.base import Store

__all__ = [
    "MaintenanceLoop",
    "MaintenanceRound",
    "MaintenanceStatus",
    "Retention",
    "StoreMaintenance",
]

log = logging.getLogger(__name__)

_DAY_S = 86_400.0


class Retention(Protocol):
    """How long each resolution is kept, days (None: forever): what
    ``storage.retention`` (``config/storage.py``, which checks the order) gives."""

    @property
    def samples_days(self) -> float | None: ...

    @property
    def minutes_days(self) -> float | None: ...

    @property
    def hours_days(self) -> float | None: ...


@dataclass(frozen=True)
class MaintenanceRound:
    """What one round did: the watermarks it left and the rows each purge removed."""

    at: float
    minute_until: float | None
    hour_until: float | None
    samples_purged: int = 0
    minutes_purged: int = 0
    hours_purged: int = 0

    @property
    def purged(self) -> int:
        return self.samples_purged + self.minutes_purged + self.hours_purged


@dataclass(frozen=True)
class MaintenanceStatus:
    """The last round's facts: when it ran (Unix seconds, None: not yet), the
    watermarks, and the error of the last round that failed (None once one succeeds)."""

    last_run_at: float | None = None
    minute_until: float | None = None
    hour_until: float | None = None
    last_error: str | None = None

    def rollup_lag_s(self, now: float) -> float | None:
        """How far the 1-min rollups are behind ``now``, seconds (None: none yet)."""
        return None if self.minute_until is None else max(0.0, now - self.minute_until)


def _horizon(now: float, days: float | None, mark: float | None) -> float | None:
    """``now - days``, but never above ``mark`` when it is bounded by one; None: keep."""
    if days is None:
        return None
    horizon = now - days * _DAY_S
    return horizon if mark is None else min(horizon, mark)


class StoreMaintenance:
    """One store's maintenance rounds (see the module docstring)."""

    def __init__(self, store: Store, retention: Retention) -> None:
        self.store = store
        self.retention = retention
        self.status = MaintenanceStatus()

    def run_once(self, now: float) -> MaintenanceRound:
        """One round at ``now`` (Unix seconds); raises StoreError when the database fails
        (the loop logs it and retries next interval), and keeps the facts either way."""
        try:
            done = self._round(now)
        except StoreError as exc:
            self.status = MaintenanceStatus(
                self.status.last_run_at, self.status.minute_until, self.status.hour_until, str(exc)
            )
            raise
        self.status = MaintenanceStatus(now, done.minute_until, done.hour_until, None)
        return done

    def _round(self, now: float) -> MaintenanceRound:
        self.store.prepare(now)
        marks = self.store.refresh_rollups(now)
        keep = self.retention
        if marks.minute_until is None:  # nothing rolled up: every raw row is the only copy
            return MaintenanceRound(now, None, marks.hour_until)
        samples = minutes = hours = 0
        before = _horizon(now, keep.samples_days, marks.minute_until)
        if before is not None:
            samples = self.store.purge(before)
        if marks.hour_until is not None:
            before = _horizon(now, keep.minutes_days, marks.hour_until)
            if before is not None:
                minutes = self.store.purge_rollups(60, before)
            before = _horizon(now, keep.hours_days, None)
            if before is not None:
                hours = self.store.purge_rollups(3600, before)
        return MaintenanceRound(now, marks.minute_until, marks.hour_until, samples, minutes, hours)


class MaintenanceLoop:
    """Runs :meth:`StoreMaintenance.run_once` every ``interval_s`` on a daemon thread,
    the first round at start.  ``clock`` gives the time of each round (Unix seconds;
    tests pass their own); ``on_round`` is called after every round, done or failed."""

    def __init__(
        self,
        store: Store,
        retention: Retention,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.time,
        on_round: Callable[[MaintenanceStatus], None] | None = None,
    ) -> None:
        self.maintenance = StoreMaintenance(store, retention)
        self.interval_s = interval_s
        self._clock = clock
        self._on_round = on_round
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-maintenance", daemon=True)

    @property
    def status(self) -> MaintenanceStatus:
        return self.maintenance.status

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            try:
                done = self.maintenance.run_once(now)
            except StoreError as exc:
                log.warning("store maintenance failed, retried in %.0f s: %s", self.interval_s, exc)
            except Exception:  # a bug must not end the retention of a city's history
                log.exception("store maintenance failed, retried in %.0f s", self.interval_s)
            else:
                if done.purged:
                    log.info(
                        "store retention: removed %d raw samples, %d 1-min and %d 1-h rollups",
                        done.samples_purged,
                        done.minutes_purged,
                        done.hours_purged,
                    )
            if self._on_round is not None:
                self._on_round(self.status)
            if self._stop.wait(self.interval_s):
                return

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop now: a round under way finishes (a database call cannot be cut), no new
        one starts."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
