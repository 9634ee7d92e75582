"""Alert sinks against real components on 127.0.0.1: an HTTP receiver and mosquitto.

Timing is never asserted with sleeps: tests poll for a state with a deadline.  The one
timing bound is that ``send()`` does not wait for the network.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from crowdsafe.alerts import MQTT_WINDOW, FakeSink, MqttSink, SinkHealth, WebhookSink
from crowdsafe.alerts.sinks import AlertSink
from crowdsafe.errors import ConfigError
from crowdsafe.types import Alert, AlertEvent, AlertLevel, AlertState, LevelOfService, ZoneSample

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None
)
requires_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None,
    reason="mosquitto broker binary not found (apt-get install mosquitto; CI installs it)",
)

SECRET = "hook-secret-123"
PASSWORD = "mqtt-pass-456"


def make_event(i: int = 0, kind: str = "opened") -> AlertEvent:
    alert = Alert(
        id=f"a{i}",
        rule="density",
        subject_kind="zone",
        subject_id="gate",
        camera_id="cam1",
        level=AlertLevel.WARNING,
        state=AlertState.OPEN,
        message=f"density above 2.0 persons/m² ({i})",
        value=2.5,
        threshold=2.0,
        opened_at=1_700_000_000.0 + i,
        updated_at=1_700_000_000.0 + i,
    )
    return AlertEvent(kind, alert)


def make_sample(zone_id: str = "gate", count: float = 12.0) -> ZoneSample:
    return ZoneSample(
        camera_id="cam1",
        zone_id=zone_id,
        t=1_700_000_000.0,
        count=count,
        count_max=int(count) + 2,
        area_m2=10.0,
        density_per_m2=count / 10.0,
        los=LevelOfService.C,
        frames=25,
    )


def until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sinks() -> Iterator[list[AlertSink]]:
    """Sinks made by a test; closed after it even when it fails."""
    made: list[AlertSink] = []
    yield made
    for sink in made:
        sink.close(timeout_s=0.5)


# --------------------------------------------------------------------------- receiver


@dataclass(frozen=True)
class Recorded:
    headers: dict[str, str]  # lower-case names
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads: nothing is left running


class Receiver:
    """A webhook receiver: records every POST, answers ``statuses`` in order and then
    200; while ``gate`` is clear it holds each response (up to 10 s) before answering."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self.statuses: deque[int] = deque()
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(
                        Recorded({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                receiver.gate.wait(10.0)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sink gave up waiting (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def received(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(port: int = 0) -> Receiver:
        made.append(Receiver(port))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def webhook(sinks: list[AlertSink], url: str, **kwargs: Any) -> WebhookSink:
    options: dict[str, Any] = {
        "secret": SECRET,
        "timeout_s": 2.0,
        "max_retries": 5,
        "backoff_min_s": 0.01,
        "backoff_max_s": 0.05,
    }
    sink = WebhookSink(url, **(options | kwargs))
    sinks.append(sink)
    return sink


# --------------------------------------------------------------------------- webhook


@pytest.mark.parametrize("secret", [SECRET, None])
def test_webhook_delivers_signed_json(make_receiver, sinks, secret) -> None:
    receiver = make_receiver()
    sink = webhook(sinks, receiver.url, secret=secret)
    event = make_event(kind="escalated")
    sink.send(event)
    until(lambda: sink.health().delivered == 1, "delivery")

    (request,) = receiver.received()
    assert json.loads(request.body) == event.to_dict()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-crowdsafe-event"] == "escalated"
    assert uuid.UUID(request.headers["x-crowdsafe-delivery"]).version == 4
    if secret is None:
        assert "x-crowdsafe-signature" not in request.headers
    else:
        header = request.headers["x-crowdsafe-signature"]
        assert header.startswith("sha256=")
        assert WebhookSink.verify_signature(SECRET, request.body, header)
        assert not WebhookSink.verify_signature("wrong-secret", request.body, header)
        assert not WebhookSink.verify_signature(SECRET, request.body + b" ", header)
        assert not WebhookSink.verify_signature(SECRET, request.body, "sha256=ü")
    health = sink.health()
    assert (health.failed, health.retries, health.dropped) == (0, 0, 0)
    assert health.last_success_at is not None


@pytest.mark.parametrize("statuses", [[500], [500, 502, 503], [429, 500]])
def test_webhook_retries_with_the_same_delivery_id(make_receiver, sinks, statuses) -> None:
    receiver = make_receiver()
    receiver.statuses.extend(statuses)
    sink = webhook(sinks, receiver.url)
    sink.send(make_event())
    until(lambda: sink.health().delivered == 1, "delivery after retries")

    requests = receiver.received()
    assert len(requests) == len(statuses) + 1
    assert len({r.headers["x-crowdsafe-delivery"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    health = sink.health()
    assert (health.retries, health.failed) == (len(statuses), 0)
    assert str(statuses[-1]) in (health.last_error or "")


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_webhook_gives_up_on_4xx_without_retrying(make_receiver, sinks, status) -> None:
    receiver = make_receiver()
    receiver.statuses.append(status)
    sink = webhook(sinks, receiver.url)
    sink.send(make_event())
    until(lambda: sink.health().failed == 1, "give-up")

    # The failure is recorded after the only attempt: no retry can follow it.
    assert len(receiver.received()) == 1
    health = sink.health()
    assert (health.delivered, health.retries) == (0, 0)
    assert f"HTTP {status}" in (health.last_error or "")


def test_webhook_survives_a_receiver_that_is_down_then_resumes(make_receiver, sinks) -> None:
    port = free_port()
    sink = webhook(sinks, f"http://127.0.0.1:{port}/hook", timeout_s=2.0, max_retries=10_000)
    events = [make_event(i) for i in range(100)]

    started = time.monotonic()
    for event in events:
        sink.send(event)
    elapsed_s = time.monotonic() - started
    # A tenth of the request timeout: generous for 100 enqueues, far below one request.
    assert elapsed_s < 0.2, f"100 sends took {elapsed_s:.3f} s: send() waited for the network"

    until(lambda: sink.health().retries >= 3, "retries against a refused connection")
    health = sink.health()
    assert health.delivered == 0
    assert "ConnectError" in (health.last_error or "")
    assert health.queue_depth == 99  # one is being retried

    receiver = make_receiver(port)
    until(lambda: sink.health().delivered == 100, "delivery after the receiver came up")
    ids = [json.loads(r.body)["alert"]["id"] for r in receiver.received()]
    assert ids == [e.alert.id for e in events]
    assert sink.health().failed == 0


def test_webhook_enforces_the_timeout(make_receiver, sinks) -> None:
    receiver = make_receiver()
    receiver.gate.clear()  # hold every response past the sink's timeout
    sink = webhook(sinks, receiver.url, timeout_s=0.2, max_retries=1)
    sink.send(make_event())
    until(lambda: sink.health().failed == 1, "give-up after timeouts")

    health = sink.health()
    assert (health.delivered, health.retries) == (0, 1)
    assert "Timeout" in (health.last_error or "")
    assert len(receiver.received()) == 2


def test_webhook_queue_overflow_drops_the_oldest(make_receiver, sinks) -> None:
    receiver = make_receiver()
    receiver.gate.clear()
    sink = webhook(sinks, receiver.url, queue_size=3)
    sink.send(make_event(0))
    until(lambda: len(receiver.received()) == 1, "the worker to be busy with event 0")
    for i in range(1, 6):
        sink.send(make_event(i))

    health = sink.health()
    assert (health.queue_depth, health.dropped) == (3, 2)
    receiver.gate.set()
    until(lambda: sink.health().delivered == 4, "the rest to be delivered")
    ids = [json.loads(r.body)["alert"]["id"] for r in receiver.received()]
    assert ids == ["a0", "a3", "a4", "a5"]


def test_webhook_health_never_shows_secrets(sinks) -> None:
    url = f"http://ops:url-pass-789@127.0.0.1:{free_port()}/hook?token=tok-abc&site=north"
    sink = webhook(sinks, url, max_retries=0)
    sink.send(make_event())
    until(lambda: sink.health().failed == 1, "give-up")

    text = json.dumps(sink.health().to_dict())
    assert "127.0.0.1" in text
    for secret in ("url-pass-789", "tok-abc", SECRET):
        assert secret not in text


def test_webhook_close_drains_then_refuses(make_receiver) -> None:
    receiver = make_receiver()
    sink = WebhookSink(receiver.url, secret=None)
    for i in range(5):
        sink.send(make_event(i))
    sink.close(timeout_s=5.0)
    assert sink.health().delivered == 5
    sink.send(make_event(9))
    health = sink.health()
    assert health.failed == 1
    assert "after close" in (health.last_error or "")
    assert len(receiver.received()) == 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "ftp://example.org/x"}, "http:// or https://"),
        ({"url": "http://u:pw@/x"}, r"http://u:\*\*\*@/x"),
        ({"secret": ""}, "secret"),
        ({"timeout_s": 0}, "timeout_s must be > 0 seconds, got 0"),
        ({"max_retries": -1}, "max_retries must be >= 0, got -1"),
        ({"backoff_min_s": 2.0, "backoff_max_s": 1.0}, "got 2.0 and 1.0"),
        ({"queue_size": 0}, "queue_size must be >= 1, got 0"),
    ],
)
def test_webhook_rejects_bad_settings(kwargs, match) -> None:
    options: dict[str, Any] = {"url": "http://127.0.0.1:9/hook", "secret": None} | kwargs
    with pytest.raises(ConfigError, match=match):
        WebhookSink(options.pop("url"), **options)


def test_fake_sink_records_and_reports() -> None:
    sink = FakeSink()
    sink.send(make_event(1))
    sink.publish_state(make_sample())
    assert [e.alert.id for e in sink.events] == ["a1"]
    assert [s.zone_id for s in sink.states] == ["gate"]
    sink.close()
    sink.send(make_event(2))
    health = sink.health()
    assert isinstance(health, SinkHealth)
    assert (health.kind, health.delivered, health.failed) == ("fake", 1, 1)


# --------------------------------------------------------------------------- MQTT


class Broker:
    """A mosquitto process on 127.0.0.1:``port``, started and stopped by the test."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        assert MOSQUITTO is not None
        self.port = port
        self.config = tmp_path / f"mosquitto-{port}.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.log = tmp_path / f"mosquitto-{port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 5.0
        while True:
            if self._proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    log = self.log.read_text()
                    raise AssertionError(f"mosquitto not listening: {log}") from exc
                time.sleep(0.01)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing is acknowledged."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[[], Broker]]:
    made: list[Broker] = []

    def make() -> Broker:
        made.append(Broker(tmp_path, free_port()))
        return made[-1]

    yield make
    for broker in made:
        broker.stop()


class Subscriber:
    """A paho client subscribed (QoS 1) to ``topic``; records what arrives."""

    def __init__(self, port: int, topic: str) -> None:
        self._lock = threading.Lock()
        self._messages: list[mqtt.MQTTMessage] = []
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
        client.on_message = lambda c, u, message: self._record(message)
        client.on_subscribe = lambda *args: subscribed.set()
        client.connect("127.0.0.1", port, keepalive=30)
        client.subscribe(topic, qos=1)
        client.loop_start()
        self.client = client
        assert subscribed.wait(5.0), f"no SUBACK for {topic}"

    def _record(self, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def messages(self) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return list(self._messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe() -> Iterator[Callable[[int, str], Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int, topic: str) -> Subscriber:
        made.append(Subscriber(port, topic))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()


def mqtt_sink(sinks: list[AlertSink], port: int, **kwargs: Any) -> MqttSink:
    options: dict[str, Any] = {"reconnect_min_s": 1, "reconnect_max_s": 1}
    sink = MqttSink("127.0.0.1", port, **(options | kwargs))
    sinks.append(sink)
    return sink


@requires_mosquitto
@pytest.mark.parametrize("prefix", ["crowdsafe", "site/north"])
def test_mqtt_alert_reaches_a_subscriber_with_qos1(make_broker, subscribe, sinks, prefix) -> None:
    broker = make_broker()
    broker.start()
    subscriber = subscribe(broker.port, f"{prefix}/alerts")
    sink = mqtt_sink(sinks, broker.port, topic_prefix=prefix)
    event = make_event(7)
    sink.send(event)
    until(lambda: len(subscriber.messages()) == 1, "the alert at the subscriber")

    (message,) = subscriber.messages()
    assert message.topic == f"{prefix}/alerts"
    assert (message.qos, message.retain) == (1, False)
    assert json.loads(message.payload) == event.to_dict()
    until(lambda: sink.health().delivered == 1, "the PUBACK")
    assert sink.health().connected is True


@requires_mosquitto
def test_mqtt_zone_state_is_retained(make_broker, subscribe, sinks) -> None:
    broker = make_broker()
    broker.start()
    sink = mqtt_sink(sinks, broker.port)
    sample = make_sample("gate-a")
    sink.publish_state(sample)
    until(lambda: sink.health().delivered == 1, "the PUBACK")

    late = subscribe(broker.port, "crowdsafe/zones/+/state")  # connects after the publish
    until(lambda: len(late.messages()) == 1, "the retained state")
    (message,) = late.messages()
    assert message.topic == "crowdsafe/zones/gate-a/state"
    assert (message.qos, message.retain) == (1, True)
    assert json.loads(message.payload) == sample.to_dict()


@requires_mosquitto
@pytest.mark.parametrize("outage", ["down at start", "killed"])
def test_mqtt_queues_while_the_broker_is_down(make_broker, subscribe, sinks, outage) -> None:
    broker = make_broker()
    if outage == "killed":
        broker.start()
    started = time.monotonic()
    sink = mqtt_sink(sinks, broker.port, username="ops", password=PASSWORD)
    assert time.monotonic() - started < 0.5, "a broker that is down must not block the sink"
    if outage == "killed":
        until(lambda: sink.health().connected is True, "the first connection")
        broker.stop()
        until(lambda: sink.health().connected is False, "the drop to be noticed")

    events = [make_event(i) for i in range(5)]
    started = time.monotonic()
    for event in events:
        sink.send(event)
    sink.publish_state(make_sample("gate", count=1.0))
    sink.publish_state(make_sample("gate", count=2.0))  # replaces the unsent state
    elapsed_s = time.monotonic() - started
    assert elapsed_s < 0.2, f"send() took {elapsed_s:.3f} s with the broker down"

    until(lambda: sink.health().retries >= 1, "a failed connection attempt")
    health = sink.health()
    assert (health.connected, health.queue_depth, health.delivered) == (False, 6, 0)
    assert "cannot connect to mqtt://ops@127.0.0.1" in (health.last_error or "")
    assert PASSWORD not in json.dumps(health.to_dict())

    # Restart just after a failed attempt: the sink's next try is a second away, so the
    # subscriber is in place before the queued alerts are flushed.
    retries = sink.health().retries
    until(lambda: sink.health().retries > retries, "the next failed attempt")
    broker.start()
    subscriber = subscribe(broker.port, "crowdsafe/alerts")
    until(lambda: len(subscriber.messages()) == 5, "the queued alerts", timeout_s=5.0)
    ids = [json.loads(m.payload)["alert"]["id"] for m in subscriber.messages()]
    assert ids == [e.alert.id for e in events]
    until(lambda: sink.health().delivered == 6, "the PUBACKs")
    health = sink.health()
    assert (health.connected, health.queue_depth, health.dropped) == (True, 0, 0)
    assert PASSWORD not in json.dumps(health.to_dict())

    states = subscribe(broker.port, "crowdsafe/zones/+/state")
    until(lambda: len(states.messages()) == 1, "the retained state")
    assert json.loads(states.messages()[0].payload)["count"] == 2.0


@requires_mosquitto
def test_mqtt_resends_in_flight_alerts_first_after_a_reconnect(make_broker, subscribe, sinks):
    """Alerts handed to paho but not acknowledged when the broker dies are resent by
    paho after the reconnect; queued ones follow them, so the order holds."""
    broker = make_broker()
    broker.start()
    sink = mqtt_sink(sinks, broker.port)
    until(lambda: sink.health().connected is True, "the first connection")
    broker.freeze()
    events = [make_event(i) for i in range(MQTT_WINDOW + 10)]
    for event in events[: MQTT_WINDOW + 5]:
        sink.send(event)
    until(lambda: sink.health().queue_depth == 5, "a full window handed to paho")
    broker.stop()
    until(lambda: sink.health().connected is False, "the drop to be noticed")
    for event in events[MQTT_WINDOW + 5 :]:
        sink.send(event)
    assert sink.health().queue_depth == 10

    retries = sink.health().retries
    until(lambda: sink.health().retries > retries, "a failed connection attempt")
    broker.start()
    subscriber = subscribe(broker.port, "crowdsafe/alerts")
    until(lambda: sink.health().delivered == len(events), "every PUBACK")
    until(lambda: len(subscriber.messages()) == len(events), "every alert")
    ids = [json.loads(m.payload)["alert"]["id"] for m in subscriber.messages()]
    assert ids == [e.alert.id for e in events]
    assert sink.health().failed == 0


@requires_mosquitto
def test_mqtt_queue_overflow_drops_the_oldest(make_broker, sinks) -> None:
    broker = make_broker()  # never started
    sink = mqtt_sink(sinks, broker.port, queue_size=3)
    for i in range(5):
        sink.send(make_event(i))
    health = sink.health()
    assert (health.queue_depth, health.dropped) == (3, 2)
    sink.close(timeout_s=1.0)
    assert sink.health().failed == 3  # unsent at close


@requires_mosquitto
def test_mqtt_close_drains_to_the_broker(make_broker, subscribe, sinks) -> None:
    broker = make_broker()
    broker.start()
    subscriber = subscribe(broker.port, "crowdsafe/alerts")
    sink = MqttSink("127.0.0.1", broker.port)
    for i in range(50):
        sink.send(make_event(i))
    sink.close(timeout_s=5.0)
    health = sink.health()
    assert (health.delivered, health.failed, health.connected) == (50, 0, False)
    until(lambda: len(subscriber.messages()) == 50, "all alerts at the subscriber")


@requires_mosquitto
def test_paho_keeps_qos1_published_while_disconnected(make_broker, subscribe) -> None:
    """Pins the paho behaviour MqttSink relies on when a publish races a disconnect: a
    QoS 1 message published while not connected is refused with MQTT_ERR_NO_CONN, yet
    kept and sent once the client connects."""
    broker = make_broker()
    acked = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pin-{uuid.uuid4().hex}")
    client.on_publish = lambda *args: acked.set()
    client.reconnect_delay_set(1, 1)
    client.connect_async("127.0.0.1", broker.port)
    client.loop_start()
    try:
        info = client.publish("pin/topic", b"kept", qos=1, retain=True)
        assert info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
        broker.start()
        assert acked.wait(5.0), "paho dropped a QoS 1 message published while disconnected"
    finally:
        client.disconnect()
        client.loop_stop()
    late = subscribe(broker.port, "pin/topic")
    until(lambda: len(late.messages()) == 1, "the message at the broker")
    assert late.messages()[0].payload == b"kept"


@requires_mosquitto
def test_mqtt_rejects_bad_zone_ids_without_raising(make_broker, sinks) -> None:
    sink = mqtt_sink(sinks, make_broker().port)
    sink.publish_state(make_sample("a/b"))
    health = sink.health()
    assert (health.failed, health.queue_depth) == (1, 0)
    assert "zone id 'a/b' must not contain '/'" in (health.last_error or "")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host": ""}, "host must not be empty"),
        ({"port": 0}, "port must be in 1..65535, got 0"),
        ({"topic_prefix": "a/#"}, "topic_prefix 'a/#' is invalid"),
        ({"topic_prefix": "/a"}, "must not be empty"),
        ({"keepalive_s": 0}, "keepalive_s must be in 1..65535, got 0"),
        ({"queue_size": 0}, "queue_size must be >= 1, got 0"),
        ({"password": "x"}, "needs a username"),
        ({"reconnect_min_s": 5, "reconnect_max_s": 2}, "got 5 and 2"),
    ],
)
def test_mqtt_rejects_bad_settings(kwargs, match) -> None:
    options: dict[str, Any] = {"host": "127.0.0.1"} | kwargs
    with pytest.raises(ConfigError, match=match):
        MqttSink(options.pop("host"), **options)
