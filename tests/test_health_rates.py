"""A camera's health keeps the times of its last 2,000 frames (ingest/health.py): the
rates are read from those, however many frames came before."""

from __future__ import annotations

import pytest

from crowdsafe.ingest.health import CameraHealth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("side", ["received", "analysed"])
def test_rates_come_from_the_last_2000_frames(side: str) -> None:
    clock = Clock()
    health = CameraHealth("cam1", "test", clock=clock)
    for i in range(2500):  # 1,000 frames a second for 2.5 s
        at = i / 1000.0
        if side == "received":
            health.frame_received(at)
        else:
            health.frame_analysed(at, 0.0)
    clock.now = 7.499  # 5 s after the last frame: every frame is in the 10-s window
    snap = health.snapshot()
    fps = snap.input_fps if side == "received" else snap.analysed_fps
    # frames 500..2499 kept: 1,999 intervals over 6.999 s (all 2,500 would give 333.24)
    assert fps == round(1999 / (7.499 - 0.5), 2)
    count = snap.frames_received if side == "received" else snap.frames_analysed
    assert count == 2500


def test_brief_says_what_the_snapshot_says_of_state_rate_and_last_frame() -> None:
    """A fleet worker reports its cameras with brief(); the API shows it as health."""
    from crowdsafe.ingest.health import StreamState

    clock = Clock()
    health = CameraHealth("cam1", "test", clock=clock)
    assert health.brief() == (health.snapshot().state, 0.0, None)
    health.set_state(StreamState.LIVE)
    for i in range(30):
        health.frame_received(i * 0.5)
        health.frame_analysed(i * 0.5, 0.1)
    clock.now = 15.2
    snap = health.snapshot()
    assert health.brief() == (StreamState.LIVE, snap.analysed_fps, snap.last_frame_age_s)
    assert snap.analysed_fps > 0 and snap.last_frame_age_s == pytest.approx(0.7)
