"""PostgreSQL LISTEN/NOTIFY: the live feed and alert changes between the nodes of a fleet.

Channels (ADR 0006, ``docs/adr/0006-fleet-feed.md``):

* ``crowdsafe_samples``: the zone samples a worker has just committed, as compact JSON
  (:func:`sample_payloads`), sent by the writing transaction itself, so a notification
  is delivered only once its rows are visible to every reader, and never for a write
  that rolled back;
* ``crowdsafe_alert_state``: an alert's id, sent by an API server after an operator's
  acknowledge or resolve has been committed.

Why chunks: PostgreSQL refuses a payload of 8000 bytes or more, so a batch is split into
payloads of at most :data:`PAYLOAD_MAX` bytes, each a JSON object of its own.

:class:`Listener` holds one connection of its own (never one of a store's pool: a
pooled connection's notifications would go to whoever borrows it next).  When the
connection breaks (the server restarted) it reconnects with a bounded back-off, and
calls ``on_connect`` after every (re)connection: notifications sent while it was away
are lost, and whoever listens reloads what it missed from the store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import MISSING
from enum import Enum
from typing import Any

import psycopg
from psycopg import sql

from crowdsafe.store.codec import Codec
from crowdsafe.types import Alert, AlertEvent, AlertEventKind, ZoneSample

__all__ = [
    "ALERT_STATE",
    "PAYLOAD_MAX",
    "SAMPLES",
    "SAMPLE_COLUMNS",
    "ZONE_ID",
    "Listener",
    "alert_event_payload",
    "notify",
    "read_alert_event",
    "read_sample_rows",
    "read_samples",
    "sample_of_row",
    "sample_payloads",
    "samples_payloads",
]

log = logging.getLogger(__name__)

SAMPLES = "crowdsafe_samples"
ALERT_STATE = "crowdsafe_alert_state"
ALERT_EVENTS = "crowdsafe_alert_events"
"""What the alert engine of a worker did (opened, escalated, resolved an alert), with the
alert itself: the worker's store writes through its queue, so the row may land after
the news, and an API server's dashboards must not wait for it."""
PAYLOAD_MAX = 7900
"""Bytes of one payload at most (PostgreSQL's limit is 8000, with some margin)."""

# A sample travels as a row of its fields in the store's column order: a key per field
# per sample would double the payload (24,000 samples a second travel this way in a city).
_ZONES = Codec(ZoneSample, native_bool=True)
_ALERTS = Codec(Alert, native_bool=True)
_HEAD = '{"f":' + json.dumps(_ZONES.names, separators=(",", ":")) + ',"s":['


def notify(conn: psycopg.Connection[Any], channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` through ``conn``: delivered when (and only if) the
    connection's current transaction commits, at once outside a transaction."""
    conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def sample_payloads(rows: Sequence[Sequence[Any]], limit: int = PAYLOAD_MAX) -> Iterator[str]:
    """Zone sample rows (as the store's codec writes them) as JSON payloads of at most
    ``limit`` bytes each: ``{"f": field names, "s": rows}``.  A row too large for a
    payload alone (a zone id of thousands of characters) is left out and logged, rather
    than failing the write it belongs to.

    Why one ``json.dumps`` of the whole batch, cut between rows: a call per row was most
    of a notifying write's cost.  The cut is at ``],[``, which only a text column could
    hold inside a row; a batch whose ids hold a ``]`` is encoded row by row instead."""
    if any("]" in r[0] or "]" in r[1] for r in rows):  # camera_id, zone_id: the texts
        yield from _row_by_row(rows, limit)
        return
    inner = json.dumps(rows, separators=(",", ":"))[1:-1]  # "[..],[..],..."
    budget = limit - len(_HEAD) - 2
    pos = 0
    while pos < len(inner):
        if len(inner) - pos <= budget:
            yield _HEAD + inner[pos:] + "]}"
            return
        cut = inner.rfind("],[", pos, pos + budget)  # the last row end that fits
        if cut == -1:  # the next row alone is too large: skip it
            nxt = inner.find("],[", pos)
            log.warning("a zone sample too large for a notification; not sent")
            if nxt == -1:
                return
            pos = nxt + 2
            continue
        yield _HEAD + inner[pos : cut + 1] + "]}"
        pos = cut + 2


def _row_by_row(rows: Sequence[Sequence[Any]], limit: int) -> Iterator[str]:
    chunk: list[str] = []
    size = len(_HEAD) + 2
    for r in rows:
        row = json.dumps(r, separators=(",", ":"))
        if size + len(row) + 1 > limit and chunk:
            yield _HEAD + ",".join(chunk) + "]}"
            chunk, size = [], len(_HEAD) + 2
        if size + len(row) + 1 > limit:
            log.warning("a zone sample too large for a notification (%d bytes); not sent", len(row))
            continue
        chunk.append(row)
        size += len(row) + 1
    if chunk:
        yield _HEAD + ",".join(chunk) + "]}"


def samples_payloads(samples: Iterable[ZoneSample], limit: int = PAYLOAD_MAX) -> Iterator[str]:
    """:func:`sample_payloads` of samples."""
    return sample_payloads([_ZONES.row(s) for s in samples], limit)


SAMPLE_COLUMNS = _ZONES.names
"""The fields of a row of :func:`read_sample_rows`, in order."""
ZONE_ID = SAMPLE_COLUMNS.index("zone_id")
"""Where a row of :func:`read_sample_rows` holds its zone id."""


def read_sample_rows(payload: str) -> list[list[Any]]:
    """The rows of one :func:`sample_payloads` payload, in the store's column order,
    undecoded (:func:`sample_of_row` makes one a sample).  ValueError if it is not one.

    Why rows: an API server hears every sample of the fleet (24,000 a second in a city)
    and most are never read before the zone's next one replaces them, so it keeps the
    row and decodes it when asked (``LiveFeed.publish_rows``)."""
    try:
        body = json.loads(payload)
        fields, rows = body["f"], body["s"]
        if list(fields) != list(_ZONES.names):  # a writer of another version: by name,
            # a field it does not know taking its default (KeyError: one without)
            rows = [_by_name(dict(zip(fields, r, strict=True))) for r in rows]
        width = len(_ZONES.names)
        if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == width for r in rows
        ):
            raise TypeError(f"rows must be lists of {width} columns")
        return rows
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a crowdsafe_samples payload: {exc}") from exc


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ZoneSample) if f.default is not MISSING}


def _by_name(values: dict[str, Any]) -> list[Any]:
    """A sample row in this version's column order from one of another version's."""
    out = []
    for name in _ZONES.names:
        value = values.get(name, _DEFAULTS.get(name, MISSING))
        if value is MISSING:
            raise KeyError(name)
        out.append(value._value_ if isinstance(value, Enum) else value)
    return out


def sample_of_row(row: Sequence[Any]) -> ZoneSample:
    """The sample of a row of :func:`read_sample_rows`."""
    return _ZONES.read(row)


def read_samples(payload: str) -> list[ZoneSample]:
    """The samples of one :func:`sample_payloads` payload.  ValueError if it is not one."""
    return [_ZONES.read(r) for r in read_sample_rows(payload)]


class Listener:
    """LISTENs on ``channels`` on a connection of its own, in a daemon thread, and calls
    ``callback(channel, payload)`` for each notification (from that thread; an exception
    in it is logged, never ends the listening).

    Reconnects after ``retry_s`` seconds, doubling up to ``retry_max_s``, while the server
    is unreachable; ``on_connect()`` runs after every connection (the first included).
    :attr:`connected` is set while it listens.  ``close()`` stops it within about
    ``poll_s``."""

    def __init__(
        self,
        dsn: str,
        channels: Iterable[str],
        callback: Callable[[str, str], None],
        *,
        on_connect: Callable[[], None] | None = None,
        retry_s: float = 0.5,
        retry_max_s: float = 5.0,
        poll_s: float = 0.5,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.channels = tuple(channels)
        self.callback = callback
        self.on_connect = on_connect
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.poll_s = poll_s
        self.connect_timeout_s = connect_timeout_s
        self.connected = threading.Event()
        self.connections = 0
        """How many times it has connected (1 + reconnections)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=max(1, round(self.connect_timeout_s)),
            application_name="crowdsafe-listener",
        )
        for channel in self.channels:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        return conn

    def _run(self) -> None:
        delay = self.retry_s
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    self.connections += 1
                    self.connected.set()
                    delay = self.retry_s
                    self._connected()
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=self.poll_s):
                            self._deliver(n.channel, n.payload)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("LISTEN connection lost (%s); retrying in %.1f s", exc, delay)
            finally:
                self.connected.clear()
            self._stop.wait(delay)
            delay = min(2 * delay, self.retry_max_s)

    def _connected(self) -> None:
        if self.on_connect is not None:
            try:
                self.on_connect()
            except Exception:
                log.exception("on_connect of the LISTEN connection failed")

    def _deliver(self, channel: str, payload: str) -> None:
        try:
            self.callback(channel, payload)
        except Exception:  # a bad payload or callback must not stop the feed
            log.exception("notification on %s not handled", channel)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.poll_s + self.connect_timeout_s + 1.0)


def alert_event_payload(event: AlertEvent) -> str:
    """An alert event as one payload (an alert is far below the limit)."""
    return json.dumps({"kind": event.kind.value, "alert": event.alert.to_dict()})


def read_alert_event(payload: str) -> AlertEvent:
    """The event of :func:`alert_event_payload` (ValueError for anything else)."""
    data = json.loads(payload)
    fields_ = data["alert"]
    alert = _ALERTS.read([fields_[name] for name in _ALERTS.names])
    return AlertEvent(AlertEventKind(data["kind"]), alert)
