"""The live feed: samples and alert events fanned out from pipeline threads to SSE clients.

Pipelines publish from their own threads; each subscriber is an asyncio queue on the
server's event loop, filled through ``call_soon_threadsafe``.  A slow client never
slows the pipeline: its queue is bounded and the oldest message is dropped when full.
Messages are ``(event name, JSON-ready dict)``: ``sample`` (a zone sample), ``line``
(a line's flow sample) and ``alert`` (an alert event).  :meth:`LiveFeed.close` ends
every stream with :data:`END`, so a server that is stopping does not wait for each
open dashboard to go away.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from crowdsafe.types import AlertEvent, LineSample, ZoneSample

__all__ = ["END", "LiveFeed", "Message"]

Message = tuple[str, dict[str, object]]
# The last message of every stream once the feed is closed; never sent to a client.
END: Message = ("end", {})


class LiveFeed:
    """Thread-safe publish, asyncio subscribe; remembers each zone's and line's latest."""

    def __init__(self, queue_size: int = 256) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]] = []
        self._latest: dict[str, ZoneSample] = {}
        self._latest_lines: dict[str, LineSample] = {}
        self._queue_size = queue_size
        self._closed = False

    def latest(self) -> dict[str, ZoneSample]:
        with self._lock:
            return dict(self._latest)

    def latest_of(self, zone_id: str) -> ZoneSample | None:
        """One zone's latest sample, without copying every zone's."""
        with self._lock:
            return self._latest.get(zone_id)

    def latest_lines(self) -> dict[str, LineSample]:
        with self._lock:
            return dict(self._latest_lines)

    def publish(self, samples: Sequence[ZoneSample]) -> None:
        with self._lock:
            for s in samples:
                self._latest[s.zone_id] = s
            listened = bool(self._subscribers)
        # An API server of a fleet takes every sample of the city (24,000 a second) and
        # most have no client: their dicts are made only for someone to send them to.
        if listened:
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
        """A new queue of future messages; call from the event loop that will read it.
        After :meth:`close` the queue holds :data:`END` alone."""
        queue: asyncio.Queue[Message] = asyncio.Queue(self._queue_size)
        with self._lock:
            if self._closed:
                queue.put_nowait(END)
                return queue
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return queue

    def close(self) -> None:
        """End every stream (each subscriber gets :data:`END`) and refuse new ones;
        publishing after this reaches no one.  Safe to call twice."""
        with self._lock:
            self._closed = True
        self._send([END])
        with self._lock:
            self._subscribers = []

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
