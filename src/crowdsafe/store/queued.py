"""Writes that never block the analysis: a bounded queue in front of any store.

:class:`QueuedStore` is a :class:`~crowdsafe.store.base.Store` that takes the pipeline's
writes (zone samples, line samples, alerts) into memory and returns at once; one writer
thread hands them to the real store in batches, in the order they came.  The rule it
carries: **a database that is down or slow must never stall a camera.**  A synchronous
write to a stopped PostgreSQL server waits for its connect timeout on the analysis
thread, frame after frame; the camera falls behind and, worse, the alerts that the
analysis raises come late — for a crowd that is the failure that matters.

* **Bounded.**  At most ``backlog_max`` samples wait.  Beyond it the *oldest* is dropped
  and counted (``dropped``): in an outage longer than the bound can hold, the newest
  minutes are the ones an operator needs, and memory must not grow until the process
  dies.  Within the bound no sample is lost.
* **Alerts are never dropped.**  They are few, and kept by id (a newer version of an
  alert replaces the waiting one), so they cannot outgrow memory; reads of alerts see
  the waiting versions, so an operator can acknowledge an alert the server has not got
  yet.  Sample reads see what has landed: the live feed, not the store, shows the newest.
* **Retried, reconnected.**  A failed batch stays at the head of the queue and is
  written again after a back-off (doubling to ``retry_max_s``); the backends reconnect
  on their own (PostgreSQL's pool replaces broken connections), and a rewrite is
  harmless because a sample for an existing (zone, bucket) replaces it.
* **Seen.**  :meth:`QueuedStore.health` (backlog, dropped, connected, last error) is in
  ``/healthz`` (the store ``disconnected`` makes the site degraded) and ``/metrics``.
* **Flushed on close**, within ``close_timeout_s``; what a dead server leaves unwritten
  is counted as dropped and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice

from crowdsafe.store.base import Store
from crowdsafe.store.rollup import RollupMarks
from crowdsafe.types import Alert, AlertState, LineSample, ZoneRollup, ZoneSample

__all__ = ["QueuedStore", "StoreHealth", "store_health"]

log = logging.getLogger(__name__)

_Item = ZoneSample | LineSample


@dataclass(frozen=True)
class StoreHealth:
    """The write queue's state at the time of asking (counts are samples)."""

    connected: bool
    backlog: int
    backlog_max: int
    dropped: int
    written: int
    alerts_waiting: int
    last_error: str | None
    last_error_at: float | None
    last_success_at: float | None

    @property
    def state(self) -> str:
        """ok, or disconnected while the last write to the store failed."""
        return "ok" if self.connected else "disconnected"


def store_health(store: Store) -> StoreHealth | None:
    """The queue's health when ``store`` writes through one; None for a plain store."""
    return store.health() if isinstance(store, QueuedStore) else None


class QueuedStore:
    """A :class:`Store` whose writes are queued and written by one thread (see the
    module's docstring).  ``inner`` belongs to it from now on: :meth:`close` closes it."""

    def __init__(
        self,
        inner: Store,
        *,
        backlog_max: int,
        batch_max: int = 5000,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 10.0,
        close_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if backlog_max < 1 or batch_max < 1:
            raise ValueError(f"backlog_max ({backlog_max}) and batch_max ({batch_max}) must be ≥ 1")
        self.inner = inner
        self.backlog_max = backlog_max
        self.batch_max = batch_max
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.close_timeout_s = close_timeout_s
        self._clock = clock
        self._cv = threading.Condition()
        self._items: deque[_Item] = deque()
        self._head = 0  # sequence number of _items[0]: drops while a batch is written move it
        self._alerts: dict[str, Alert] = {}
        self._dropped = 0
        self._written = 0
        self._connected = True
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_success_at: float | None = None
        self._closing = False
        self._closed = False
        self._stop = False
        self._busy = False  # a batch is being written
        self._writer = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._writer.start()

    # --- writes: queued, never blocking ---------------------------------------------

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        self._put(samples)

    def write_line_samples(self, samples: Sequence[LineSample]) -> None:
        self._put(samples)

    def _put(self, samples: Sequence[_Item]) -> None:
        if not samples:
            return
        with self._cv:
            if self._closed:  # a write after close has no writer: counted, never raised
                self._dropped += len(samples)
                return
            self._items.extend(samples)
            over = len(self._items) - self.backlog_max
            for _ in range(max(0, over)):
                self._items.popleft()
            if over > 0:
                self._head += over
                self._dropped += over
            self._cv.notify()

    def save_alert(self, alert: Alert) -> None:
        with self._cv:
            self._alerts[alert.id] = alert
            self._cv.notify()

    # --- reads: from the store (alerts with the waiting versions) -----------------------

    def series(
        self,
        zone_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneSample]:
        return self.inner.series(zone_id, since, until, limit)

    def hourly_counts(
        self, zone_id: str, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, float]]:
        return self.inner.hourly_counts(zone_id, since, until)

    def latest(self, zone_id: str) -> ZoneSample | None:
        return self.inner.latest(zone_id)

    def line_series(
        self,
        line_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[LineSample]:
        return self.inner.line_series(line_id, since, until, limit)

    def rollups(
        self,
        zone_id: str,
        resolution_s: int,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneRollup]:
        return self.inner.rollups(zone_id, resolution_s, since, until, limit)

    def refresh_rollups(self, now: float) -> RollupMarks:
        return self.inner.refresh_rollups(now)

    def rollup_marks(self) -> RollupMarks:
        return self.inner.rollup_marks()

    def purge_rollups(self, resolution_s: int, before: float) -> int:
        return self.inner.purge_rollups(resolution_s, before)

    def prepare(self, now: float) -> None:
        self.inner.prepare(now)

    def purge(self, before: float) -> int:
        # retention runs off the analysis thread; waiting samples that old are not kept
        return self.inner.purge(before)

    def alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[Alert]:
        with self._cv:
            waiting = dict(self._alerts)
        if not waiting:
            return self.inner.alerts(states, since, limit)
        # the store's answer may hold an older version of a waiting alert, in a state
        # the filter keeps or not: ask without the filter for as many more as wait
        stored = self.inner.alerts(None, since, limit + len(waiting))
        merged = {a.id: a for a in stored} | waiting
        kept = [
            a
            for a in merged.values()
            if (states is None or a.state in states) and (since is None or a.updated_at >= since)
        ]
        kept.sort(key=lambda a: a.updated_at, reverse=True)
        return kept[:limit]

    def get_alert(self, alert_id: str) -> Alert | None:
        with self._cv:
            waiting = self._alerts.get(alert_id)
        return waiting if waiting is not None else self.inner.get_alert(alert_id)

    # --- state -----------------------------------------------------------------------

    def health(self) -> StoreHealth:
        with self._cv:
            return StoreHealth(
                connected=self._connected,
                backlog=len(self._items),
                backlog_max=self.backlog_max,
                dropped=self._dropped,
                written=self._written,
                alerts_waiting=len(self._alerts),
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                last_success_at=self._last_success_at,
            )

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued so far is written; False if not within
        ``timeout_s`` (for tools and tests that read right after writing)."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._items or self._alerts or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self) -> None:
        """Write what waits (within ``close_timeout_s``), stop the writer, close the store."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
            self._closing = True
            self._cv.notify_all()
        self._writer.join(self.close_timeout_s)
        with self._cv:
            self._stop = True  # a writer still retrying gives up at its next wake-up
            self._cv.notify_all()
        # a write under way ends within the backend's own timeout
        self._writer.join(self.close_timeout_s)
        with self._cv:
            left = len(self._items)
            self._dropped += left
            self._items.clear()
            alerts_left = len(self._alerts)
        if left or alerts_left:
            log.error(
                "store: %d samples and %d alerts not written on close (%s)",
                left,
                alerts_left,
                self._last_error,
            )
        self.inner.close()

    # --- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        delay = self.retry_initial_s
        while True:
            with self._cv:
                while not (self._items or self._alerts or self._closing or self._stop):
                    self._cv.wait()
                if self._stop or (self._closing and not (self._items or self._alerts)):
                    self._busy = False
                    self._cv.notify_all()
                    return
                start = self._head
                batch = list(islice(self._items, self.batch_max))  # peeked: kept until written
                alerts = dict(self._alerts)
                self._busy = True
            try:
                self._write(batch, list(alerts.values()))
            except Exception as exc:  # any failure of the backend: keep the batch, retry
                with self._cv:
                    self._busy = False
                    self._connected = False
                    self._last_error = f"{type(exc).__name__}: {exc}"[:500]
                    self._last_error_at = self._clock()
                    self._cv.notify_all()
                    if not self._stop:
                        self._cv.wait(delay)  # close() or stop wakes it early
                delay = min(delay * 2.0, self.retry_max_s)
                continue
            delay = self.retry_initial_s
            with self._cv:
                self._busy = False
                if not self._connected:
                    log.info("store: writing again after an outage (%s)", self._last_error)
                self._connected = True
                self._last_success_at = self._clock()
                # samples dropped while the batch was written were its first ones: they
                # were counted as dropped, and landed after all
                end = start + len(batch)
                landed_anyway = max(0, min(self._head, end) - start)
                self._dropped -= landed_anyway
                done = max(0, end - self._head)
                for _ in range(done):
                    self._items.popleft()
                self._head += done
                self._written += done + landed_anyway
                for alert_id, alert in alerts.items():
                    if self._alerts.get(alert_id) is alert:  # not replaced meanwhile
                        del self._alerts[alert_id]
                self._cv.notify_all()

    def _write(self, batch: list[_Item], alerts: list[Alert]) -> None:
        for alert in alerts:
            self.inner.save_alert(alert)
        # one write per run of a kind keeps the order of samples of either kind
        run: list[_Item] = []
        for item in batch:
            if run and type(item) is not type(run[0]):
                self._write_run(run)
                run = []
            run.append(item)
        if run:
            self._write_run(run)

    def _write_run(self, run: list[_Item]) -> None:
        if isinstance(run[0], ZoneSample):
            self.inner.write_samples([s for s in run if isinstance(s, ZoneSample)])
        else:
            self.inner.write_line_samples([s for s in run if isinstance(s, LineSample)])
