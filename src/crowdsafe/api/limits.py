"""Bounds on what a crowd of clients can make the server do at once.

A request for a live image holds a worker thread while its image is made; without a
bound, forty dashboards polling ``live.jpg`` would hold forty threads (and, before
``crowdsafe.livecache``, forty face-model runs).  :class:`RequestSlots` admits at most
``limit`` such requests at a time and refuses the rest at once, on the event loop,
with 429 and ``Retry-After`` (:data:`RETRY_AFTER_S`): a refused client costs a few
microseconds, and a queue of waiting requests, which would only grow, is never formed.
"""

from __future__ import annotations

import threading

# Seconds a refused client is asked to wait (about one live-view refresh): the same
# Retry-After as every other 429/503 of the API.
from crowdsafe.api.errors import RETRY_AFTER_S

__all__ = ["RETRY_AFTER_S", "RequestSlots"]


class RequestSlots:
    """A count of requests inside a bounded section, refused rather than queued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0

    def try_enter(self, limit: int) -> bool:
        """Take a slot if fewer than ``limit`` are held; False (nothing taken) if not."""
        with self._lock:
            if self._inside >= limit:
                return False
            self._inside += 1
            return True

    def leave(self) -> None:
        """Give back a slot taken by :meth:`try_enter`."""
        with self._lock:
            if self._inside <= 0:
                raise RuntimeError("RequestSlots.leave() without a matching try_enter()")
            self._inside -= 1
