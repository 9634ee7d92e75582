"""One live image per camera per analysed frame, however many viewers ask.

The rule this module carries: **the live view must never compete with the analysis it
shows.**  Before it, each request for a camera's live view anonymised and encoded the
frame itself: twenty viewers meant up to twenty face-model runs per frame at once on the
cores the analysis needs (the demo's analysed rate fell from 9.8 to 0.7 fps), and each
concurrent run grew memory that was never given back.  :class:`SingleFlight` makes the
cost of a camera's live view independent of its audience:

* **single flight**: for each key (a camera) at most one value is being made at any time;
  every caller that asks meanwhile waits for that one and shares its result;
* **a rate bound**: a value younger than ``min_interval_s`` is served even when a newer
  version exists, so a camera's image is remade at most ``1 / min_interval_s`` times a
  second whatever the analysed rate (``live_view_limits.max_fps``);
* **one worker at a lower priority**: values are made on one thread of the cache's own,
  niced (Linux nice values are per thread), so across cameras at most one image is
  being made at a time and the analysis thread wins the cores when both want them;
* **a duty cycle**: after making a value that took ``d`` seconds, the worker rests
  ``d * (1 / max_busy - 1)`` before it makes another (of any key; until then callers
  get the cached value), so it is busy at most ``max_busy`` of the time.  On a machine
  loaded by other work a make takes longer, so the live view slows down by itself
  instead of taking its share from the analysis;
* **bounded memory**: the cache keeps the latest value of each key only (JPEG bytes,
  never frames), at most one job per key is queued, and a waiting caller holds nothing
  but a future.

A caller that waits longer than ``wait_s`` gets :class:`~crowdsafe.errors.ServiceBusy`
instead of piling up behind a starved worker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

from crowdsafe.errors import ServiceBusy

__all__ = ["SingleFlight"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Made(Generic[T]):
    version: int
    value: T
    started: float  # clock() when its making began: the rate bound counts starts


def _lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (best effort: a platform without
    per-thread nice values only loses the priority, not the bound on work)."""
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except (AttributeError, OSError) as exc:
        log.debug("live view worker keeps its priority: %s", exc)


class SingleFlight(Generic[T]):
    """The latest value of each key, made at most once per version, one at a time.

    :meth:`get` returns the cached value of ``key`` when it is of ``version`` or newer,
    was started less than ``min_interval_s`` seconds ago (seconds of ``clock``), or the
    worker is resting (``max_busy``, the module doc); otherwise it waits (at most
    ``wait_s`` seconds) for the one value of that key being made, starting it on the
    worker thread if none is.  Versions of a key only grow.  ``nice`` is added to the
    worker thread's nice value (0 keeps it).  Raises ValueError for a negative interval,
    a wait that is not positive or a ``max_busy`` outside (0, 1]."""

    def __init__(
        self,
        *,
        min_interval_s: float = 0.0,
        max_busy: float = 1.0,
        wait_s: float = 5.0,
        nice: int = 10,
        clock: Callable[[], float] = time.monotonic,
        name: str = "live-view",
    ) -> None:
        if not min_interval_s >= 0.0:  # also refuses NaN
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        if not 0.0 < max_busy <= 1.0:
            raise ValueError(f"max_busy must be in (0, 1], got {max_busy}")
        if not 0.0 < wait_s < float("inf"):
            raise ValueError(f"wait_s must be a positive number of seconds, got {wait_s}")
        self.min_interval_s = min_interval_s
        self.max_busy = max_busy
        self._rest_until = float("-inf")  # clock() before which the worker makes nothing
        self.wait_s = wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._made: dict[str, _Made[T]] = {}
        self._pending: dict[str, Future[T]] = {}
        self._made_count = 0
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=_lower_priority, initargs=(nice,)
        )

    @property
    def made(self) -> int:
        """How many values have been made (successfully or not) since construction."""
        return self._made_count

    def cached(self, key: str, version: int) -> T | None:
        """The cached value of ``key`` if it is of ``version`` exactly, else None."""
        with self._lock:
            done = self._made.get(key)
        return done.value if done is not None and done.version == version else None

    def get(self, key: str, version: int, make: Callable[[], T]) -> T:
        """``key``'s value of ``version`` (or a recent enough older one); ``make()``
        makes it, on the worker thread.  Exceptions of ``make`` reach every caller
        waiting for it.  Raises ServiceBusy when the value is not made within
        ``wait_s``, or after :meth:`close`."""
        with self._lock:
            done = self._made.get(key)
            now = self._clock()
            if done is not None and (
                done.version >= version
                or now - done.started < self.min_interval_s
                or now < self._rest_until
            ):
                return done.value
            pending = self._pending.get(key)
            if pending is None:
                try:
                    pending = self._worker.submit(self._make, key, version, make)
                except RuntimeError:  # shut down: the runtime is closing
                    raise ServiceBusy("the live view is stopping") from None
                self._pending[key] = pending
        try:
            return pending.result(self.wait_s)
        except CancelledError:  # closed while it waited in the queue
            raise ServiceBusy("the live view is stopping") from None
        except FutureTimeout:
            raise ServiceBusy(
                f"the live image of '{key}' was not ready within {self.wait_s:g} s "
                "(the machine is busy with the analysis); try again shortly"
            ) from None

    def _make(self, key: str, version: int, make: Callable[[], T]) -> T:
        started = self._clock()
        try:
            value = make()
        except BaseException:
            self._finish(key, started, None)
            raise
        self._finish(key, started, _Made(version, value, started))
        return value

    def _finish(self, key: str, started: float, made: _Made[T] | None) -> None:
        with self._lock:
            ended = self._clock()
            self._rest_until = ended + (ended - started) * (1.0 / self.max_busy - 1.0)
            # Stored before the future resolves, in the same step as the pending job is
            # dropped: a caller arriving in between finds the one or the other.
            if made is not None:
                self._made[key] = made
            self._pending.pop(key, None)
            self._made_count += 1

    def close(self) -> None:
        """Stop the worker (a value being made is finished first) and drop the cache."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._made.clear()
            self._pending.clear()
