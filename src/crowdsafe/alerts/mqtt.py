"""The MQTT sink: alerts with QoS 1, retained zone state, a bounded queue of its own.

See ``alerts/sinks.py`` for the rules (QoS, retain, ordering after a reconnect, licence).
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from crowdsafe.alerts.base import MQTT_WINDOW, Clock, SinkHealth, _encode, _require, _Stats
from crowdsafe.types import AlertEvent, ZoneSample

__all__ = ["MqttSink"]


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
