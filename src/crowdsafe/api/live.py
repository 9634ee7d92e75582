"""The live feed: zone samples fanned out from pipeline threads to SSE clients.

Pipelines publish from their own threads; each subscriber is an asyncio queue on the
server's event loop, filled through ``call_soon_threadsafe``.  A slow client never
slows the pipeline: its queue is bounded and the oldest sample is dropped when full.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from crowdsafe.types import ZoneSample

__all__ = ["LiveFeed"]


class LiveFeed:
    """Thread-safe publish, asyncio subscribe; also remembers each zone's latest sample."""

    def __init__(self, queue_size: int = 256) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[ZoneSample]]] = []
        self._latest: dict[str, ZoneSample] = {}
        self._queue_size = queue_size

    def latest(self) -> dict[str, ZoneSample]:
        with self._lock:
            return dict(self._latest)

    def publish(self, samples: Sequence[ZoneSample]) -> None:
        with self._lock:
            for s in samples:
                self._latest[s.zone_id] = s
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            for s in samples:
                try:
                    loop.call_soon_threadsafe(_put_dropping_oldest, queue, s)
                except RuntimeError:  # that client's loop is closed
                    self.unsubscribe(queue)
                    break

    def subscribe(self) -> asyncio.Queue[ZoneSample]:
        """A new queue of future samples; call from the event loop that will read it."""
        queue: asyncio.Queue[ZoneSample] = asyncio.Queue(self._queue_size)
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ZoneSample]) -> None:
        with self._lock:
            self._subscribers = [(lp, q) for lp, q in self._subscribers if q is not queue]

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _put_dropping_oldest(queue: asyncio.Queue[ZoneSample], sample: ZoneSample) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(sample)
