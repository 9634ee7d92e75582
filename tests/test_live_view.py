"""The live view under a crowd of clients, on a real uvicorn server on 127.0.0.1: a bound
on concurrent requests (429 beyond it), one anonymisation per frame however many ask,
and what is served is still the anonymiser's output."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
import numpy.typing as npt
import pytest

from crowdsafe.config import parse_config
from crowdsafe.detect.base import FakeDetector
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.runtime import Runtime
from crowdsafe.site import FakeSite
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Detections, LiveView

from .test_api import serving, walkers
from .test_ingest_live import wait_for


@dataclass
class SlowSite(FakeSite):
    """A FakeSite whose live images take until the test lets them go."""

    inside: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    go: threading.Event = field(default_factory=threading.Event)

    def anonymised_jpeg(self, camera_id: str) -> bytes | None:
        self.inside.release()
        assert self.go.wait(30), "the test never let the image go"
        return super().anonymised_jpeg(camera_id)


@pytest.fixture
def slow_site(tmp_path: Path) -> Iterator[SlowSite]:
    store = SQLiteStore(tmp_path / "slow.db")
    image = np.full((120, 160, 3), 128, np.uint8)
    view = LiveView(1, image, Detections())
    site = SlowSite(
        store=store,
        camera_names={"cam1": "one", "cam2": "two"},
        views={"cam1": view, "cam2": view},
        live_view_requests_max=3,
    )
    yield site
    site.go.set()
    store.close()


def test_live_view_requests_beyond_the_bound_are_refused_with_429(slow_site: SlowSite) -> None:
    with serving(slow_site) as base:
        url = base + "/api/cameras/cam1/live.jpg"
        answers: list[httpx.Response] = []
        held = [
            threading.Thread(
                target=lambda: answers.append(httpx.get(url, timeout=30, headers=base.headers))
            )
            for _ in range(3)
        ]
        for t in held:
            t.start()
        for _ in range(3):  # all three slots are now held inside the site
            assert slow_site.inside.acquire(timeout=30)
        refused = [
            httpx.get(url, timeout=30, headers=base.headers),
            httpx.get(base + "/api/cameras/cam2/live.jpg", headers=base.headers),
        ]
        other = httpx.get(
            base + "/api/cameras", timeout=30, headers=base.headers
        )  # other routes are not bounded
        slow_site.go.set()
        for t in held:
            t.join(30)
        after = [
            httpx.get(url, timeout=30, headers=base.headers) for _ in range(4)
        ]  # the slots were given back
    for r in refused:
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert r.json() == {
            "detail": "too many live-view requests at once "
            "(live_view_limits.max_requests: 3); retry after 1 s"
        }
    assert other.status_code == 200
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.status_code for r in after] == [200] * 4
    assert all(r.headers["content-type"] == "image/jpeg" for r in answers + after)


class CountingAnonymiser(Anonymiser):
    """Heads only; counts its calls and keeps its last output."""

    def __init__(self) -> None:
        super().__init__(None)
        self.calls = 0
        self.last: npt.NDArray[np.uint8] | None = None

    def anonymise(self, image: npt.NDArray[np.uint8], people: Detections) -> npt.NDArray[np.uint8]:
        self.calls += 1
        self.last = super().anonymise(image, people)
        return self.last


def test_a_crowd_asking_for_one_frame_costs_one_anonymisation(
    tmp_path: Path, config_text: str
) -> None:
    text = config_text + "live_view_limits: {max_requests: 64}\nprivacy: {snapshots: false}\n"
    spy = CountingAnonymiser()
    rt = Runtime(
        parse_config(text, base_dir=tmp_path), detector=FakeDetector(walkers), anonymiser=spy
    )
    rt.start()
    try:
        wait_for(lambda: rt.cameras["cam1"].last_view is not None, 20, "an analysed frame")
        rt.stop()  # the last analysed frame stays: every client asks for that one
        assert spy.calls == 0  # nobody asked yet
        with serving(rt) as base:
            start = threading.Barrier(24)
            answers: list[httpx.Response] = []

            def ask() -> None:
                start.wait()
                answers.append(
                    httpx.get(base + "/api/cameras/cam1/live.jpg", timeout=30, headers=base.headers)
                )

            crowd = [threading.Thread(target=ask) for _ in range(24)]
            for t in crowd:
                t.start()
            for t in crowd:
                t.join(30)
    finally:
        rt.close()
    assert [r.status_code for r in answers] == [200] * 24
    assert len({r.content for r in answers}) == 1
    assert spy.calls == 1
    # what was served is that one anonymiser output (plus JPEG loss), never the raw frame
    assert spy.last is not None
    bgr = cv2.imdecode(np.frombuffer(answers[0].content, np.uint8), cv2.IMREAD_COLOR)
    served = bgr[:, :, ::-1].astype(int)
    assert served.shape == spy.last.shape
    assert float(np.abs(served - spy.last).mean()) < 12
