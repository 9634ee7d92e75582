"""Alerts end to end: a camera's crowd builds up, the runtime raises alerts, and they
reach a real webhook receiver and a real mosquitto broker; operators acknowledge and
resolve them through the API; a broker outage never stops the pipeline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from crowdsafe.alerts.sinks import WebhookSink
from crowdsafe.config import parse_config
from crowdsafe.detect.base import FakeDetector
from crowdsafe.runtime import Runtime
from crowdsafe.types import Detections, Frame

from .test_api import serving
from .test_ingest_live import CALIBRATION, wait_for
from .test_sinks import (  # noqa: F401  (pytest fixtures)
    MOSQUITTO,
    Broker,
    Receiver,
    Subscriber,
    make_broker,
    make_receiver,
    subscribe,
)

SECRET = "e2e-secret-789"
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


def crowd(frame: Frame) -> Detections:
    """Forty people standing in a pen of about 9 m²: some 4.5 persons/m²."""
    xs = np.tile(np.linspace(10, 140, 10), 4)
    ys = np.repeat([420.0, 460.0, 500.0, 540.0], 10)
    xyxy = np.stack([xs - 8, ys - 60, xs + 8, ys], axis=1).astype(np.float32)
    return Detections(xyxy=xyxy, score=np.full(len(xs), 0.9, dtype=np.float32))


def test_alerts_reach_webhook_and_mqtt_and_survive_a_broker_outage(
    tmp_path: Path,
    sample_video: Path,
    make_receiver: Callable[..., Receiver],  # noqa: F811
    make_broker: Callable[[], Broker],  # noqa: F811
    subscribe: Callable[[int, str], Subscriber],  # noqa: F811
) -> None:
    receiver = make_receiver()
    broker = make_broker()
    broker.start()
    alerts_sub = subscribe(broker.port, "site/alerts")
    config = {
        "cameras": [
            {
                "id": "gate",
                "source": {"url": str(sample_video), "loop": True},
                "analysis_fps": 5,
                "detector": {"precision": 1.0, "recall": 1.0},
                "calibration": CALIBRATION,
                "density": {"method": "detection"},  # detections are scripted
                "zones": [
                    {
                        "id": "pen",
                        "name": "Front pen",
                        "polygon": [[0, 380], [150, 380], [150, 576], [0, 576]],
                    },
                ],
            }
        ],
        "storage": {"path": str(tmp_path / "e2e.db")},
        "alerts": {
            "density_per_m2": {"advisory": 2, "warning": 3, "critical": 5, "hold_s": 1},
            "sinks": {
                "webhooks": [{"url": receiver.url, "secret": SECRET, "timeout_s": 2}],
                "mqtt": {"host": "127.0.0.1", "port": broker.port, "topic_prefix": "site"},
            },
        },
    }
    rt = Runtime(
        parse_config(yaml.safe_dump(config), base_dir=tmp_path), detector=FakeDetector(crowd)
    )
    rt.start()
    try:
        with serving(rt) as base:
            wait_for(
                lambda: any(a["rule"] == "density" for a in base.get("/api/alerts").json()),
                15,
                "a density alert",
            )
            alert = next(a for a in base.get("/api/alerts").json() if a["rule"] == "density")
            assert alert["level"] == "warning"
            assert alert["state"] == "open"
            assert "Front pen" in alert["message"]

            # the webhook got it, signed
            wait_for(
                lambda: any(
                    json.loads(r.body)["alert"]["id"] == alert["id"] for r in receiver.received()
                ),
                10,
                "the webhook delivery",
            )
            hook = next(
                r for r in receiver.received() if json.loads(r.body)["alert"]["id"] == alert["id"]
            )
            assert WebhookSink.verify_signature(
                SECRET, hook.body, hook.headers["x-crowdsafe-signature"]
            )
            assert json.loads(hook.body)["event"] == "opened"
            # the broker got it, and the zone's state is retained
            wait_for(
                lambda: any(
                    json.loads(m.payload)["alert"]["id"] == alert["id"]
                    for m in alerts_sub.messages()
                ),
                10,
                "the MQTT alert",
            )
            state_sub = subscribe(broker.port, "site/zones/pen/state")  # subscribes late
            wait_for(lambda: bool(state_sub.messages()), 10, "the retained zone state")
            assert state_sub.messages()[0].retain
            assert json.loads(state_sub.messages()[0].payload)["zone_id"] == "pen"

            # an operator acknowledges it
            acked = base.post(f"/api/alerts/{alert['id']}/acknowledge")
            assert acked.status_code == 200
            assert acked.json()["state"] == "acknowledged"
            wait_for(
                lambda: any(
                    json.loads(r.body)["event"] == "acknowledged" for r in receiver.received()
                ),
                10,
                "the acknowledgement",
            )
            missing = base.post("/api/alerts/nope/acknowledge")
            assert missing.status_code == 404
            assert "no alert with id" in missing.text

            # the broker goes down: the pipeline keeps going, health says so
            broker.stop()
            wait_for(
                lambda: base.get("/healthz").json()["sinks"].get("mqtt") == "disconnected",
                10,
                "the sink to notice the broker is gone",
            )
            assert base.get("/healthz").json()["status"] == "degraded"
            before = rt.cameras["gate"].health.snapshot().frames_analysed
            resolved = base.post(f"/api/alerts/{alert['id']}/resolve")
            assert resolved.status_code == 200
            assert resolved.json()["state"] == "resolved"
            again = base.post(f"/api/alerts/{alert['id']}/acknowledge")
            assert again.status_code == 409
            assert "already resolved" in again.text
            time.sleep(1.0)
            assert rt.cameras["gate"].health.snapshot().frames_analysed > before
            sinks = {s["name"]: s for s in base.get("/api/sinks").json()}
            assert sinks["mqtt"]["connected"] is False
            assert sinks["mqtt"]["queue_depth"] >= 1
            assert "metrics"
            assert 'crowdsafe_sink_connected{sink="mqtt"} 0.0' in base.get("/metrics").text

            # ... and comes back: what was queued is delivered
            delivered = sinks["mqtt"]["delivered"]
            restarted_at = time.time()
            broker.start()

            def mqtt_health() -> dict[str, object]:
                found: dict[str, object] = next(
                    h for h in base.get("/api/sinks").json() if h["name"] == "mqtt"
                )
                return found

            wait_for(lambda: mqtt_health()["connected"] is True, 15, "the sink to reconnect")
            wait_for(
                lambda: (
                    mqtt_health()["queue_depth"] == 0
                    and int(mqtt_health()["delivered"]) > delivered
                ),  # type: ignore[call-overload]
                15,
                "the queued messages to be delivered",
            )
            assert base.get("/healthz").json()["sinks"]["mqtt"] == "ok"
            fresh = subscribe(broker.port, "site/zones/pen/state")
            wait_for(lambda: bool(fresh.messages()), 10, "the zone state after the restart")
            assert json.loads(fresh.messages()[0].payload)["t"] >= restarted_at - 2.0
    finally:
        rt.close()
