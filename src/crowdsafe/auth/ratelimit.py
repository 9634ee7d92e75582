"""A sliding-window limit on login attempts, per user name and per client address.

Why here and not a library: the limits that matter are two counters kept for a few
minutes in one process; ``limits`` or ``slowapi`` would bring storage back-ends and a
decorator per route for what is a dictionary of recent times.  Memory is bounded: at
most :data:`MAX_KEYS` keys are kept, the stalest dropped first, so a flood of invented
user names cannot grow it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["MAX_KEYS", "SlidingWindow"]

MAX_KEYS = 10_000


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window_s`` seconds."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after_s(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None if it may now."""
        with self._lock:
            hits = self._fresh(key)
            if len(hits) < self.limit:
                return None
            return max(1, math.ceil(hits[0] + self.window_s - self._clock()))

    def hit(self, key: str) -> None:
        with self._lock:
            self._fresh(key).append(self._clock())
            self._hits.move_to_end(key)
            while len(self._hits) > MAX_KEYS:
                self._hits.popitem(last=False)

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def _fresh(self, key: str) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        cutoff = self._clock() - self.window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits
