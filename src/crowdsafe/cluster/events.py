"""A worker's alert events to every API server: ``NOTIFY crowdsafe_alert_events``.

Why a thread: the alert engine calls its event sinks on the analysis thread, and a
database that is slow or down must never hold up a camera.  Events wait in a bounded
queue (the newest dropped, and counted, when it is full: the alerts themselves are in
the store, and the dashboards' alert list reads them there); one thread sends each on
its own autocommit connection, reconnecting after a failure.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from crowdsafe.store.notify import ALERT_EVENTS, alert_event_payload
from crowdsafe.types import AlertEvent

__all__ = ["AlertEventSender"]

log = logging.getLogger(__name__)

_STOP: Any = object()


class AlertEventSender:
    """Sends alert events on :data:`~crowdsafe.store.notify.ALERT_EVENTS`."""

    def __init__(self, dsn: str, *, connect_timeout_s: float = 10.0, capacity: int = 1000) -> None:
        self.dsn = dsn
        self.connect_timeout_s = connect_timeout_s
        self.sent = 0
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._run, name="fleet-alert-events", daemon=True)
        self._thread.start()

    def send(self, event: AlertEvent) -> None:
        """Queue ``event`` and return at once (an event sink of the alert engine)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        import psycopg

        conn: psycopg.Connection[Any] | None = None
        while (event := self._queue.get()) is not _STOP:
            try:
                if conn is None or conn.closed:
                    timeout = max(1, round(self.connect_timeout_s))
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=timeout)
                conn.execute("SELECT pg_notify(%s, %s)", (ALERT_EVENTS, alert_event_payload(event)))
                self.sent += 1
            except psycopg.Error as exc:
                self.dropped += 1
                log.warning("an alert event did not reach the API servers: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what waits (within ``timeout_s``), then stop."""
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)
