"""The live feed: samples and alert events fanned out from pipeline threads to SSE clients.

Pipelines publish from their own threads; each subscriber is an asyncio queue on the
server's event loop, filled through ``call_soon_threadsafe``.  A slow client never
slows the pipeline: its queue is bounded and the oldest message is dropped when full.
Messages are ``(event name, JSON-ready dict)``: ``sample`` (a zone sample), ``line``
(a line's flow sample) and ``alert`` (an alert event).  :meth:`LiveFeed.close` ends
every stream with :data:`END`, so a server that is stopping does not wait for each
open dashboard to go away.

Why :meth:`LiveFeed.publish_rows`: a fleet's API server hears every zone sample of the
city (24,000 a second) as rows of a notification, and most are replaced by the zone's
next one before anyone reads them; with no client connected it keeps the newest row of
each zone and decodes it only when a read asks for that zone (once, then kept).
:meth:`LiveFeed.latest_fields` reads a few fields of every zone's latest without
decoding anything: what the site totals need of 24,000 zones each second.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from crowdsafe.types import AlertEvent, LineSample, ZoneSample

__all__ = ["END", "LiveFeed", "Message"]

log = logging.getLogger(__name__)

Message = tuple[str, dict[str, object]]
Row = Sequence[Any]
"""A zone sample not yet decoded (``publish_rows``)."""
# The last message of every stream once the feed is closed; never sent to a client.
END: Message = ("end", {})


class LiveFeed:
    """Thread-safe publish, asyncio subscribe; remembers each zone's and line's latest."""

    def __init__(self, queue_size: int = 256) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]] = []
        self._latest: dict[str, ZoneSample] = {}
        self._rows: dict[str, Row] = {}  # newer than _latest for their zones: undecoded
        self._decode: Callable[[Row], ZoneSample] | None = None
        self._columns: tuple[str, ...] = ()  # the rows' field names, in order
        self._latest_lines: dict[str, LineSample] = {}
        self._queue_size = queue_size
        self._closed = False

    def latest(self) -> dict[str, ZoneSample]:
        with self._lock:
            for zone_id in list(self._rows):
                self._decoded(zone_id)
            return dict(self._latest)

    def latest_of(self, zone_id: str) -> ZoneSample | None:
        """One zone's latest sample, without copying every zone's."""
        with self._lock:
            if zone_id in self._rows:
                return self._decoded(zone_id)
            return self._latest.get(zone_id)

    def _decoded(self, zone_id: str) -> ZoneSample | None:
        """The zone's waiting row decoded into its latest (under the lock); a row that
        does not decode is logged and dropped, leaving the sample before it."""
        row = self._rows.pop(zone_id)
        assert self._decode is not None  # set with the first row
        try:
            self._latest[zone_id] = self._decode(row)
        except (TypeError, ValueError) as exc:
            log.warning("a zone sample of %s that does not read (%s); dropped", zone_id, exc)
        return self._latest.get(zone_id)

    def latest_lines(self) -> dict[str, LineSample]:
        with self._lock:
            return dict(self._latest_lines)

    def publish(self, samples: Sequence[ZoneSample]) -> None:
        with self._lock:
            for s in samples:
                self._latest[s.zone_id] = s
            if self._rows:  # an older undecoded row must not shadow these
                for s in samples:
                    self._rows.pop(s.zone_id, None)
            listened = bool(self._subscribers)
        # An API server of a fleet takes every sample of the city (24,000 a second) and
        # most have no client: their dicts are made only for someone to send them to.
        if listened:
            self._send([("sample", s.to_dict()) for s in samples])

    def publish_rows(
        self, rows: Sequence[Row], columns: Sequence[str], decode: Callable[[Row], ZoneSample]
    ) -> None:
        """Zone samples as rows of the fields named by ``columns``, in that order (one of
        them ``zone_id``), as :meth:`publish` would take them decoded by ``decode``:
        decoded now when a client listens, else when a read asks for their zone (the
        module docstring)."""
        zone_index = list(columns).index("zone_id")
        with self._lock:
            listened = bool(self._subscribers)
            if not listened:
                self._decode = decode
                self._columns = tuple(columns)
                self._rows.update({r[zone_index]: r for r in rows})  # the last one wins
        if listened:
            self.publish([decode(r) for r in rows])

    def latest_fields(self, names: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """Zone id -> the values of the fields ``names`` (of :class:`ZoneSample`) of the
        zone's latest sample, read from a waiting row as it is (an enum as its string
        value, which equals the member) without decoding it."""
        if not names:
            raise ValueError("name at least one field of a zone sample")
        attrs, items = attrgetter(*names), None
        with self._lock:
            if self._rows:
                items = itemgetter(*(self._columns.index(n) for n in names))
            if len(names) == 1:  # a getter of one name returns the value, not a tuple
                out = {z: (attrs(s),) for z, s in self._latest.items()}
                out.update({z: (items(r),) for z, r in self._rows.items()} if items else {})
                return out
            out = {z: attrs(s) for z, s in self._latest.items()}
            if items is not None:
                out.update({z: items(r) for z, r in self._rows.items()})
            return out

    def latest_times(self, zone_ids: Sequence[str]) -> dict[str, float]:
        """Zone id -> the time of its latest sample, for those of ``zone_ids`` that have
        one: a single zone decoded alone (:meth:`latest_of`), many read at once from
        every zone's (:meth:`latest_fields`), no sample decoded."""
        if len(zone_ids) == 1:
            latest = self.latest_of(zone_ids[0])
            return {} if latest is None else {zone_ids[0]: latest.t}
        times = self.latest_fields(("t",))
        return {z: times[z][0] for z in zone_ids if z in times}

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
