"""The live feed: samples and alert events fanned out from pipeline threads to SSE clients.

Pipelines publish from their own threads; each subscriber is an asyncio queue on the
server's event loop, filled through ``call_soon_threadsafe``.  A slow client never
slows the pipeline: its queue is bounded and the oldest message is dropped when full.
Messages are ``(event name, JSON-ready dict)``: ``sample`` (a zone sample), ``line``
(a line's flow sample) and ``alert`` (an alert event).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from crowdsafe.types import AlertEvent, LineSample, ZoneSample

__all__ = ["LiveFeed", "Message"]

Message = tuple[str, dict[str, object]]


class LiveFeed:
    """Thread-safe publish, asyncio subscribe; remembers each zone's and line's latest."""

    def __init__(self, queue_size: int = 256) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]] = []
        self._latest: dict[str, ZoneSample] = {}
        self._latest_lines: dict[str, LineSample] = {}
        self._queue_size = queue_size

    def latest(self) -> dict[str, ZoneSample]:
        with self._lock:
            return dict(self._latest)

    def latest_lines(self) -> dict[str, LineSample]:
        with self._lock:
            return dict(self._latest_lines)

    def publish(self, samples: Sequence[ZoneSample]) -> None:
        with self._lock:
            for s in samples:
                self._latest[s.zone_id] = s
        self._send([("sample", s.to_dict()) for s in samples])

    def publish_lines(self, samples: Sequence[LineSample]) -> None:
        with self._lock:
            for s in samples:
                self._latest_lines[s.line_id] = s
        self._send([("line", s.to_dict()) for s in samples])

    def publish_alert(self, event: AlertEvent) -> None:
        self._send([("alert", event.to_dict())])

    def _send(self, messages: list[Message]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            for message in messages:
                try:
                    loop.call_soon_threadsafe(_put_dropping_oldest, queue, message)
                except RuntimeError:  # that client's loop is closed
                    self.unsubscribe(queue)
                    break

    def subscribe(self) -> asyncio.Queue[Message]:
        """A new queue of future messages; call from the event loop that will read it."""
        queue: asyncio.Queue[Message] = asyncio.Queue(self._queue_size)
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Message]) -> None:
        with self._lock:
            self._subscribers = [(lp, q) for lp, q in self._subscribers if q is not queue]

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _put_dropping_oldest(queue: asyncio.Queue[Message], message: Message) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)
