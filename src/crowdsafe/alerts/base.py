"""Alert sinks, the parts every sink shares: the protocol, its health record, a fake.

The rules all sinks keep are in ``alerts/sinks.py``'s docstring; the webhook and MQTT
sinks live in ``alerts/webhook.py`` and ``alerts/mqtt.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from crowdsafe.errors import ConfigError
from crowdsafe.types import AlertEvent, ZoneSample

__all__ = ["MQTT_WINDOW", "SIGNATURE_HEADER", "AlertSink", "Clock", "FakeSink", "SinkHealth"]

SIGNATURE_HEADER = "X-Crowdsafe-Signature"
MQTT_WINDOW = 20
"""Most messages an :class:`MqttSink` hands paho before the broker acknowledges them."""

Clock = Callable[[], float]


@dataclass(frozen=True)
class SinkHealth:
    """Delivery health of one sink; counts run from the sink's creation.

    ``connected`` is ``None`` for a sink that holds no connection (webhook, fake).
    ``delivered`` counts deliveries the receiver confirmed (HTTP 2xx, MQTT PUBACK);
    ``failed`` deliveries given up (refused, out of retries, unsent at close);
    ``retries`` repeated attempts (webhook: requests sent again, MQTT: failed
    connection attempts, each retried);
    ``queue_depth`` events waiting (not counting those being sent or awaiting an ack);
    ``dropped`` events pushed out of a full queue.
    ``last_success_at`` is Unix seconds.  ``last_error`` never holds a secret.
    """

    name: str
    kind: str
    connected: bool | None
    delivered: int
    failed: int
    retries: int
    queue_depth: int
    dropped: int
    last_error: str | None
    last_success_at: float | None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class AlertSink(Protocol):
    """Where alert events go.  Every method returns at once; delivery is asynchronous."""

    name: str

    def send(self, event: AlertEvent) -> None:
        """Enqueue ``event`` for delivery; never blocks, never raises for delivery trouble."""
        ...

    def publish_state(self, sample: ZoneSample) -> None:
        """Enqueue the latest state of a zone (a sink may ignore it)."""
        ...

    def health(self) -> SinkHealth: ...

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout_s`` seconds, then stop.
        What is left unsent counts as ``failed``."""
        ...


class _Stats:
    """Counters shared by the sinks; every access is under the owning sink's lock."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.retries = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_success_at: float | None = None

    def snapshot(
        self, name: str, kind: str, connected: bool | None, queue_depth: int
    ) -> SinkHealth:
        return SinkHealth(
            name=name,
            kind=kind,
            connected=connected,
            delivered=self.delivered,
            failed=self.failed,
            retries=self.retries,
            queue_depth=queue_depth,
            dropped=self.dropped,
            last_error=self.last_error,
            last_success_at=self.last_success_at,
        )


def _encode(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


class FakeSink:
    """A sink for tests: records what it was given, delivers nowhere, always healthy."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._events: list[AlertEvent] = []
        self._states: list[ZoneSample] = []
        self._stats = _Stats()
        self.closed = False

    @property
    def events(self) -> list[AlertEvent]:
        with self._lock:
            return list(self._events)

    @property
    def states(self) -> list[ZoneSample]:
        with self._lock:
            return list(self._states)

    def send(self, event: AlertEvent) -> None:
        with self._lock:
            if self.closed:
                self._stats.failed += 1
                self._stats.last_error = f"send() after close(): {event.kind} event not delivered"
                return
            self._events.append(event)
            self._stats.delivered += 1
            self._stats.last_success_at = time.time()

    def publish_state(self, sample: ZoneSample) -> None:
        with self._lock:
            if not self.closed:
                self._states.append(sample)

    def health(self) -> SinkHealth:
        with self._lock:
            return self._stats.snapshot(self.name, "fake", None, 0)

    def close(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            self.closed = True


# --------------------------------------------------------------------------- webhook
