"""Alert sinks: deliver alert events to the outside without ever blocking the pipeline.

The rules this module carries, and why:

* ``send()`` only enqueues.  The analysis loop calls it, and a slow receiver, a dead
  broker or a DNS stall must cost that loop microseconds, never a frame.  I/O happens
  on the sink's own worker thread (and, for MQTT, on paho's network thread).
* Every queue is bounded and, when full, drops its OLDEST entry and counts it in
  ``dropped``.  An outage must not grow memory without limit, and after an outage the
  newest events are the ones an operator needs; the caller is never made to wait.
* A webhook delivery carries ``X-Crowdsafe-Delivery``, a UUID that stays the same on
  every retry of that delivery.  Retrying makes delivery at-least-once; the id lets a
  receiver make it effectively-once by ignoring an id it has already seen.  With a
  secret, the exact body bytes are signed (HMAC-SHA256) so a receiver can reject
  forgeries: see :meth:`WebhookSink.verify_signature`.
* Only failures that may pass are retried: connection errors, timeouts, 5xx and 429,
  with exponential backoff and jitter (jitter keeps many sinks from retrying in
  lockstep against a receiver that is coming back).  Any other 4xx means the receiver
  refuses this request, and sending the same bytes again will not change its mind.
* MQTT alerts go out with QoS 1 (at-least-once, acknowledged by the broker) and are not
  retained: an alert is an event, and a retained one would be replayed to every new
  subscriber as if it had just happened.  Zone state goes out with QoS 1 and
  ``retain=True``: it is a latest value, so a dashboard that subscribes later gets the
  current state at once.  Unsent states are coalesced to the newest per zone, so a long
  outage cannot push alerts out of the queue with stale states.
* paho-mqtt 2.2 keeps a QoS 1 message published while disconnected (``publish()``
  answers ``MQTT_ERR_NO_CONN``) and sends it after reconnecting, and resends messages
  that were unacknowledged when a connection dropped; tests pin both.  That is not a
  documented promise across paho releases, and paho's own store is unbounded, so
  :class:`MqttSink` keeps unsent messages in its own bounded queue and hands paho at
  most :data:`MQTT_WINDOW` unacknowledged messages, and only while connected.  After a
  reconnect it lets paho resend what was in flight before handing over new messages,
  so alerts reach the broker in the order they were sent.
* Health never holds secrets: URLs go through :func:`crowdsafe.ingest.url.redact`, and
  error text is scrubbed of the webhook secret, URL credentials and the MQTT password.

Licence: paho-mqtt is dual-licensed EPL-2.0 OR EDL-1.0; crowdsafe uses it under the
EDL-1.0 (Eclipse Distribution License, a BSD-3-Clause licence): its terms (keep the
copyright notice, no endorsement) are compatible with crowdsafe's MIT licence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import ssl
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from crowdsafe.errors import ConfigError
from crowdsafe.ingest.url import SourceAddress, redact
from crowdsafe.types import AlertEvent, ZoneSample

__all__ = [
    "MQTT_WINDOW",
    "SIGNATURE_HEADER",
    "AlertSink",
    "FakeSink",
    "MqttSink",
    "SinkHealth",
    "WebhookSink",
]

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


@dataclass(frozen=True, slots=True)
class _Delivery:
    id: str
    event: AlertEvent


def _retry_after_s(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, when it is given as a number."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class WebhookSink:
    """POSTs each alert event as JSON to ``url`` from a worker thread.

    Retries connection errors, timeouts, 5xx and 429 up to ``max_retries`` times, waiting
    ``backoff_min_s`` doubling up to ``backoff_max_s`` (times a jitter in [0.5, 1]), or
    the receiver's numeric ``Retry-After`` capped at ``backoff_max_s``.  Each request is
    bounded by ``timeout_s`` seconds.  At most ``queue_size`` events wait; beyond that
    the oldest is dropped.  :meth:`publish_state` is a no-op: webhooks carry events.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None,
        timeout_s: float = 5.0,
        max_retries: int = 5,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        queue_size: int = 1000,
        name: str = "webhook",
        clock: Clock = time.time,
    ) -> None:
        scheme = urlsplit(url).scheme.lower()
        _require(
            scheme in ("http", "https") and bool(urlsplit(url).hostname),
            f"webhook url {redact(url)!r} must be an http:// or https:// URL with a host",
        )
        _require(secret is None or secret != "", "webhook secret must be None or non-empty")
        _require(timeout_s > 0, f"timeout_s must be > 0 seconds, got {timeout_s}")
        _require(max_retries >= 0, f"max_retries must be >= 0, got {max_retries}")
        _require(
            0 < backoff_min_s <= backoff_max_s,
            f"backoffs must satisfy 0 < backoff_min_s <= backoff_max_s, "
            f"got {backoff_min_s} and {backoff_max_s}",
        )
        _require(queue_size >= 1, f"queue_size must be >= 1, got {queue_size}")
        self.name = name
        self._url = url
        self._address = SourceAddress.parse(url)
        self._secret = secret
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._queue_size = queue_size
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[_Delivery] = deque()
        self._stats = _Stats()
        self._closed = False
        self._deadline: float | None = None  # monotonic; set by close()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._thread = threading.Thread(
            target=self._run, name=f"crowdsafe-sink-{name}", daemon=True
        )
        self._thread.start()

    @staticmethod
    def signature(secret: str, body: bytes) -> str:
        """The ``X-Crowdsafe-Signature`` value for ``body``: ``sha256=<hex HMAC>``."""
        return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()

    @staticmethod
    def verify_signature(secret: str, body: bytes, header: str) -> bool:
        """True when ``header`` is the signature of exactly ``body`` under ``secret``.
        Compares in constant time; a malformed header is simply not valid."""
        expected = WebhookSink.signature(secret, body).encode("ascii")
        try:
            given = header.strip().encode("ascii")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(expected, given)

    def send(self, event: AlertEvent) -> None:
        delivery = _Delivery(str(uuid.uuid4()), event)
        with self._cond:
            if self._closed:
                self._stats.failed += 1
                self._stats.last_error = f"send() after close(): {event.kind} event not delivered"
                return
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._stats.dropped += 1
            self._queue.append(delivery)
            self._cond.notify_all()

    def publish_state(self, sample: ZoneSample) -> None:
        """Webhooks carry events only; zone state is for MQTT and the API."""

    def health(self) -> SinkHealth:
        with self._cond:
            return self._stats.snapshot(self.name, "webhook", None, len(self._queue))

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + max(0.0, timeout_s)
            self._cond.notify_all()
        # A request under way ends within its own timeout.
        self._thread.join(max(0.0, timeout_s) + self._timeout_s + 1.0)

    # -- worker thread

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if self._past_deadline() or not self._queue:
                        self._stats.failed += len(self._queue)
                        self._queue.clear()
                        return
                    delivery = self._queue.popleft()
                try:
                    self._deliver(delivery)
                except Exception as exc:  # a bug here must not kill the worker
                    self._give_up(f"delivery {delivery.id} failed: {type(exc).__name__}: {exc}")
        finally:
            self._client.close()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _deliver(self, delivery: _Delivery) -> None:
        body = _encode(delivery.event.to_dict())
        headers = {
            "Content-Type": "application/json",
            "X-Crowdsafe-Event": delivery.event.kind,
            "X-Crowdsafe-Delivery": delivery.id,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = self.signature(self._secret, body)
        attempts = self._max_retries + 1
        where = f"POST {self._address.display}"
        error = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                with self._cond:
                    self._stats.retries += 1
            retry_after: float | None = None
            try:
                response = self._client.post(self._url, content=body, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, DNS, timeouts
                error = f"{where} failed: {type(exc).__name__}: {str(exc) or 'no detail'}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    with self._cond:
                        self._stats.delivered += 1
                        self._stats.last_success_at = self._clock()
                    return
                error = f"{where} answered HTTP {status} {response.reason_phrase}".rstrip()
                if status < 500 and status != 429:
                    self._give_up(
                        f"{error}; not retried: only 5xx, 429 and network errors are retried"
                    )
                    return
                retry_after = _retry_after_s(response)
            self._note_error(f"{error} (attempt {attempt} of {attempts})")
            if attempt == attempts:
                break
            if retry_after is None:
                step_s = min(self._backoff_max_s, self._backoff_min_s * 2 ** (attempt - 1))
                delay_s = step_s * random.uniform(0.5, 1.0)
            else:
                delay_s = min(retry_after, self._backoff_max_s)
            if not self._pause(delay_s):
                self._give_up(f"{error}; closing, gave up after {attempt} attempt(s)")
                return
        self._give_up(f"{error}; gave up after {attempts} attempt(s)")

    def _pause(self, delay_s: float) -> bool:
        """Wait ``delay_s`` seconds, cut short by close()'s deadline; False past it."""
        end = time.monotonic() + delay_s
        with self._cond:
            while True:
                limit = end if self._deadline is None else min(end, self._deadline)
                left = limit - time.monotonic()
                if left <= 0:
                    return not self._past_deadline()
                self._cond.wait(left)

    def _scrub(self, text: str) -> str:
        text = self._address.scrub(text)
        return text if self._secret is None else text.replace(self._secret, "***")

    def _note_error(self, message: str) -> None:
        with self._cond:
            self._stats.last_error = self._scrub(message)

    def _give_up(self, message: str) -> None:
        with self._cond:
            self._stats.failed += 1
            self._stats.last_error = self._scrub(message)


# --------------------------------------------------------------------------- MQTT


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    retain: bool
    body: AlertEvent | ZoneSample


def _check_topic_level(value: str, what: str) -> str | None:
    """Why ``value`` cannot be an MQTT topic level, or None when it can."""
    if not value:
        return f"{what} must not be empty"
    bad = [c for c in ("/", "+", "#", "\0") if c in value]
    if bad:
        return f"{what} {value!r} must not contain {', '.join(repr(c) for c in bad)}"
    return None


class MqttSink:
    """Publishes alert events to ``{topic_prefix}/alerts`` (QoS 1) and zone states to
    ``{topic_prefix}/zones/{zone_id}/state`` (QoS 1, retained) on an MQTT broker.

    Connects in the background and reconnects forever, waiting ``reconnect_min_s``
    doubling up to ``reconnect_max_s`` seconds between attempts; a broker that is down
    at start costs nothing but queued messages.  At most ``queue_size`` alerts wait
    (oldest dropped beyond that), plus the newest state of each zone.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        topic_prefix: str = "crowdsafe",
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: bool | ssl.SSLContext = False,
        keepalive_s: int = 30,
        queue_size: int = 1000,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        name: str = "mqtt",
        clock: Clock = time.time,
    ) -> None:
        _require(bool(host), "MQTT host must not be empty")
        _require(1 <= port <= 65535, f"MQTT port must be in 1..65535, got {port}")
        levels = topic_prefix.split("/")
        problems = [p for p in (_check_topic_level(lv, "topic_prefix level") for lv in levels) if p]
        _require(not problems, f"topic_prefix {topic_prefix!r} is invalid: {'; '.join(problems)}")
        _require(1 <= keepalive_s <= 65535, f"keepalive_s must be in 1..65535, got {keepalive_s}")
        _require(queue_size >= 1, f"queue_size must be >= 1, got {queue_size}")
        _require(
            1 <= reconnect_min_s <= reconnect_max_s,
            f"reconnect delays must satisfy 1 <= reconnect_min_s <= reconnect_max_s, "
            f"got {reconnect_min_s} and {reconnect_max_s}",
        )
        _require(password is None or username is not None, "an MQTT password needs a username")
        self.name = name
        self._prefix = topic_prefix
        self._password = password
        scheme = "mqtts" if tls is not False else "mqtt"
        user = f"{username}@" if username else ""
        self._display = f"{scheme}://{user}{host}:{port}"
        self._keepalive_s = keepalive_s
        self._queue_size = queue_size
        self._clock = clock
        self._cond = threading.Condition()
        self._alerts: deque[_Outgoing] = deque()
        self._states: OrderedDict[str, _Outgoing] = OrderedDict()  # topic -> newest state
        self._stats = _Stats()
        self._connected = False
        self._unreachable = False  # last connection attempt failed or connection lost
        self._inflight = 0  # handed to paho, not yet acknowledged
        self._resync_until: float | None = None  # monotonic; see _ready_in()
        self._closed = False
        self._stopping = False

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"crowdsafe-{uuid.uuid4().hex[:12]}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if isinstance(tls, ssl.SSLContext):
            client.tls_set_context(tls)
        elif tls:
            client.tls_set()
        client.max_inflight_messages_set(MQTT_WINDOW)
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(host, port, keepalive=keepalive_s)
        client.loop_start()
        self._thread = threading.Thread(
            target=self._run, name=f"crowdsafe-sink-{name}", daemon=True
        )
        self._thread.start()

    def send(self, event: AlertEvent) -> None:
        item = _Outgoing(f"{self._prefix}/alerts", False, event)
        with self._cond:
            if self._closed:
                self._stats.failed += 1
                self._stats.last_error = f"send() after close(): {event.kind} event not delivered"
                return
            if len(self._alerts) >= self._queue_size:
                self._alerts.popleft()
                self._stats.dropped += 1
            self._alerts.append(item)
            self._cond.notify_all()

    def publish_state(self, sample: ZoneSample) -> None:
        problem = _check_topic_level(sample.zone_id, "zone id")
        with self._cond:
            if problem or self._closed:
                self._stats.failed += 1
                self._stats.last_error = (
                    f"zone state not published: {problem}"
                    if problem
                    else "publish_state() after close(): state not published"
                )
                return
            topic = f"{self._prefix}/zones/{sample.zone_id}/state"
            self._states.pop(topic, None)  # a newer state replaces, and goes to the back
            if len(self._states) >= self._queue_size:
                self._states.popitem(last=False)
                self._stats.dropped += 1
            self._states[topic] = _Outgoing(topic, True, sample)
            self._cond.notify_all()

    def health(self) -> SinkHealth:
        with self._cond:
            depth = len(self._alerts) + len(self._states)
            return self._stats.snapshot(self.name, "mqtt", self._connected, depth)

    def close(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            if self._closed:
                return
            self._closed = True
            # Drain while the broker can take it; an unreachable broker will not, soon.
            while (self._alerts or self._states or self._inflight) and not self._unreachable:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        self._client.disconnect()
        self._client.loop_stop()
        with self._cond:
            self._stats.failed += len(self._alerts) + len(self._states) + self._inflight
            self._alerts.clear()
            self._states.clear()
            self._inflight = 0

    # -- worker thread: hands queued messages to paho while connected

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    wait_s = self._ready_in()
                    if wait_s == 0.0:
                        item = self._alerts.popleft() if self._alerts else self._pop_state()
                        self._inflight += 1
                        break
                    self._cond.wait(wait_s)
            self._hand_over(item)

    def _pop_state(self) -> _Outgoing:
        return self._states.popitem(last=False)[1]

    def _ready_in(self) -> float | None:
        """0.0 when a message may be handed to paho now, else how long to wait (None:
        until notified).  Called under the lock."""
        if not self._connected or not (self._alerts or self._states):
            return None
        if self._resync_until is not None:
            if self._inflight == 0:
                self._resync_until = None
            else:
                left = self._resync_until - time.monotonic()
                if left > 0:
                    return left
                self._stats.failed += self._inflight
                self._stats.last_error = (
                    f"{self._inflight} message(s) in flight when the connection to "
                    f"{self._display} dropped were not acknowledged after reconnecting"
                )
                self._inflight = 0
                self._resync_until = None
        return 0.0 if self._inflight < MQTT_WINDOW else None

    def _hand_over(self, item: _Outgoing) -> None:
        try:
            payload = _encode(item.body.to_dict())
            info = self._client.publish(item.topic, payload, qos=1, retain=item.retain)
        except Exception as exc:
            self._publish_failed(f"cannot publish to {item.topic}: {type(exc).__name__}: {exc}")
            return
        # NO_CONN: the connection dropped just now; paho keeps a QoS 1 message and sends
        # it after reconnecting, so it stays in flight.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._publish_failed(f"cannot publish to {item.topic}: {mqtt.error_string(info.rc)}")

    def _publish_failed(self, message: str) -> None:
        with self._cond:
            self._inflight = max(0, self._inflight - 1)
            self._stats.failed += 1
            self._stats.last_error = self._scrub(message)
            self._cond.notify_all()

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    # -- paho callbacks, on paho's network thread: they must never raise into it

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        try:
            with self._cond:
                if reason_code.is_failure:
                    self._unreachable = True
                    self._stats.last_error = self._scrub(
                        f"broker {self._display} refused the connection: {reason_code}"
                    )
                    return
                self._connected = True
                self._unreachable = False
                if self._inflight:
                    self._resync_until = time.monotonic() + self._keepalive_s
                self._cond.notify_all()
        except Exception:  # pragma: no cover - defensive: never raise into paho
            return

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            # paho calls this inside its ``except OSError`` block; the error is still current.
            exc = sys.exc_info()[1]
            detail = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
            with self._cond:
                self._unreachable = True
                self._stats.retries += 1
                self._stats.last_error = self._scrub(f"cannot connect to {self._display}: {detail}")
                self._cond.notify_all()
        except Exception:  # pragma: no cover - defensive: never raise into paho
            return

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        try:
            with self._cond:
                was_connected = self._connected
                self._connected = False
                if not self._stopping:
                    self._unreachable = True
                    if was_connected:
                        self._stats.last_error = self._scrub(
                            f"lost connection to {self._display}: {reason_code}"
                        )
                self._cond.notify_all()
        except Exception:  # pragma: no cover - defensive: never raise into paho
            return

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        try:
            with self._cond:
                self._inflight = max(0, self._inflight - 1)
                if reason_code.is_failure:
                    self._stats.failed += 1
                    self._stats.last_error = f"broker refused message {mid}: {reason_code}"
                else:
                    self._stats.delivered += 1
                    self._stats.last_success_at = self._clock()
                self._cond.notify_all()
        except Exception:  # pragma: no cover - defensive: never raise into paho
            return
