"""Cameras added to and removed from a running runtime (a cluster worker's share), and
an alert engine taking an operator's state from the store (``AlertEngine.adopt``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.config import parse_config
from crowdsafe.detect.base import FakeDetector
from crowdsafe.runtime import Runtime
from crowdsafe.store.queued import QueuedStore
from crowdsafe.types import Alert, AlertRule, AlertState, Detections, Frame

from .test_alerts import engine, feed


def one_person(frame: Frame) -> Detections:
    return Detections(
        xyxy=np.array([[100, 300, 140, 400]], dtype=np.float32), score=np.ones(1, np.float32)
    )


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.05)


def two_cameras(tmp_path: Path, video: Path) -> Runtime:
    cams = [
        {
            "id": cid,
            "source": {"url": str(video), "realtime": True, "loop": True},
            "analysis_fps": 4,
            "density": {"method": "detection"},
            "calibration": {
                "image_points": [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]],
                "ground_points_m": [
                    [-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.0, 14.06],
                ],
            },
            "zones": [{"id": f"{cid}-z", "polygon": [[0, 200], [768, 200], [768, 576], [0, 576]]}],
        }
        for cid in ("one", "two")
    ]  # fmt: skip
    text = yaml.safe_dump(
        {"cameras": cams, "storage": {"path": str(tmp_path / "s.db"), "bucket_s": 0.5}}
    )
    config = parse_config(text, base_dir=tmp_path)
    return Runtime(config, detector=FakeDetector(one_person), camera_ids=["one"])


def test_a_camera_added_and_one_removed_leave_the_other_running(
    tmp_path: Path, sample_video: Path
) -> None:
    rt = two_cameras(tmp_path, sample_video)
    assert set(rt.cameras) == {"one"}
    rt.start()
    try:
        wait_for(lambda: len(rt.store.series("one-z")) >= 2, 20, "camera one's samples")
        one = rt.cameras["one"]
        rt.add_camera(rt.config.camera("two"))
        wait_for(lambda: len(rt.store.series("two-z")) >= 2, 20, "the added camera's samples")
        assert rt.cameras["one"] is one  # not rebuilt
        received = one.health.snapshot().frames_received
        wait_for(
            lambda: one.health.snapshot().frames_received > received, 10, "camera one reading on"
        )
        rt.remove_camera("one")
        assert isinstance(rt.store, QueuedStore) and rt.store.flush(10.0)  # written through
        assert not one.pipeline.has_open_bucket  # its last bucket was stored
        received = one.health.snapshot().frames_received
        stored = len(rt.store.series("one-z"))
        seen_two = len(rt.store.series("two-z"))
        wait_for(lambda: len(rt.store.series("two-z")) >= seen_two + 2, 20, "camera two")
        assert len(rt.store.series("one-z")) == stored  # nothing after its removal
        assert one.health.snapshot().frames_received == received  # its reader stopped
        assert set(rt.cameras) == {"two"}
    finally:
        rt.close()


def density_alerts(eng: AlertEngine) -> list[Alert]:
    return [a for a in eng.active_alerts() if a.rule is AlertRule.DENSITY]


def test_an_alert_acknowledged_elsewhere_is_adopted_and_not_saved_again() -> None:
    eng, events, clock, store = engine()
    feed(eng, clock, 0, [5.5] * 40)  # critical, held
    (held,) = density_alerts(eng)
    assert held.state is AlertState.OPEN
    acked = replace(held, state=AlertState.ACKNOWLEDGED, acknowledged_at=clock.now)
    store.save_alert(acked)
    count = len(events)
    assert eng.adopt(acked)
    assert [a.state for a in density_alerts(eng)] == [AlertState.ACKNOWLEDGED]
    assert not eng.adopt(acked)  # the same state again changes nothing
    assert len(events) == count  # the process that acknowledged it told the sinks
    resolved = replace(acked, state=AlertState.RESOLVED, resolved_at=clock.now)
    assert eng.adopt(resolved)
    assert density_alerts(eng) == []
    older = replace(held, id="older", opened_at=held.opened_at - 100)
    feed(eng, clock, 100, [5.5] * 40)  # a new alert opens
    (new,) = density_alerts(eng)
    assert new.id != held.id
    assert not eng.adopt(replace(older, state=AlertState.RESOLVED))
    assert density_alerts(eng) == [new]
