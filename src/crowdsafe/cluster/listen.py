"""A minimal LISTEN loop on its own PostgreSQL connection, reconnecting when it drops.

Written for the workers' ``crowdsafe_alert_state`` channel; the shared helper
``crowdsafe.store.notify`` (issue 16, the API side) does the same for every channel and
this one is to be merged into it.  A notification lost while the connection was down is
not replayed by PostgreSQL: the worker's polling of its open alerts covers that gap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["ALERT_STATE_CHANNEL", "ChannelListener"]

log = logging.getLogger(__name__)

ALERT_STATE_CHANNEL = "crowdsafe_alert_state"
"""Sent by the API after an operator's acknowledgement or resolution is stored; the
payload is the alert id."""


class ChannelListener:
    """Calls ``callback(payload)`` for each NOTIFY on ``channel`` until ``close()``;
    ``on_connect()`` is called after each (re)connection, so that what was missed while
    disconnected can be read again.  ``listening`` is set while a LISTEN is in force."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        callback: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.callback = callback
        self.on_connect = on_connect
        self.retry_s = retry_s
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    if self.on_connect is not None:
                        self.on_connect()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._deliver(note.payload)
            except psycopg.Error as exc:
                log.warning("LISTEN %s: %s; reconnecting in %g s", self.channel, exc, self.retry_s)
            finally:
                self.listening.clear()
            self._stop.wait(self.retry_s)

    def _deliver(self, payload: str) -> None:
        try:
            self.callback(payload)
        except Exception:  # one bad notification must not end the listening
            log.exception("LISTEN %s: handling %r failed", self.channel, payload)

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
