"""Zone counting, time buckets and the camera pipeline with scripted input."""

from __future__ import annotations

import numpy as np
import pytest

from crowdsafe.detect.base import FakeDetector
from crowdsafe.ingest.base import ScriptedSource
from crowdsafe.ingest.health import CameraHealth, StreamState
from crowdsafe.measure.zones import BucketAggregator, Zone, ZoneCounter
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store import SQLiteStore
from crowdsafe.types import CountMethod, Detections, Frame, LevelOfService, ZoneCounts


def zone(zid: str, polygon: list[list[float]], area: float) -> Zone:
    return Zone(
        id=zid,
        camera_id="cam1",
        name=zid,
        polygon_px=np.asarray(polygon, dtype=np.float64),
        area_m2=area,
        space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
    )


LEFT = zone("left", [[0, 0], [100, 0], [100, 100], [0, 100]], area=4.0)
RIGHT = zone("right", [[100, 0], [200, 0], [200, 100], [100, 100]], area=8.0)


def people(*feet: tuple[float, float]) -> Detections:
    """Detections whose boxes stand with their bottom-centre on the given points."""
    xyxy = np.array([[x - 5, y - 30, x + 5, y] for x, y in feet], dtype=np.float32).reshape(-1, 4)
    return Detections(xyxy=xyxy, score=np.full(len(feet), 0.9, dtype=np.float32))


def test_people_count_by_the_point_under_their_feet() -> None:
    counter = ZoneCounter([LEFT, RIGHT])
    # the head of the third person is in 'left' but the feet are in 'right'
    det = Detections(
        xyxy=np.array([[10, 10, 20, 50], [40, 20, 60, 90], [90, 10, 130, 60]], dtype=np.float32),
        score=np.ones(3, dtype=np.float32),
    )
    assert counter.count(det) == {"left": 2, "right": 1}
    assert counter.count(Detections()) == {"left": 0, "right": 0}


def test_buckets_average_frames_and_keep_the_peak() -> None:
    agg = BucketAggregator("cam1", [LEFT, RIGHT], bucket_s=1.0)
    assert agg.add(10.0, {"left": 2, "right": 0}) == []
    assert agg.add(10.5, {"left": 4, "right": 1}) == []
    closed = agg.add(11.2, {"left": 8, "right": 8})
    by_zone = {s.zone_id: s for s in closed}
    left = by_zone["left"]
    assert (left.t, left.count, left.count_max, left.frames) == (10.0, 3.0, 4, 2)
    assert left.density_per_m2 == pytest.approx(3.0 / 4.0)
    assert left.los is LevelOfService.E  # 1.33 m² per person: walkway E
    tail = {s.zone_id: s for s in agg.flush()}
    assert tail["right"].t == 11.0
    assert tail["right"].count == 8.0
    assert agg.flush() == []


def test_bucket_length_is_validated() -> None:
    with pytest.raises(ValueError, match="bucket_s must be > 0"):
        BucketAggregator("cam1", [LEFT], bucket_s=0)


def make_frames(n: int, fps: float, script: list[Detections]) -> tuple[list[Frame], FakeDetector]:
    frames = [
        Frame(camera_id="cam1", t=100.0 + i / fps, image=np.zeros((100, 200, 3), np.uint8), index=i)
        for i in range(n)
    ]
    return frames, FakeDetector(lambda f: script[f.index % len(script)])


def test_pipeline_stores_one_row_per_zone_per_bucket(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frames, detector = make_frames(30, 10.0, [people((50, 50), (60, 60)), people((150, 50))])
    store = SQLiteStore(tmp_path / "p.db")
    published = []
    pipe = CameraPipeline("cam1", detector, [LEFT, RIGHT], store, on_samples=published.extend)
    stats = pipe.run(ScriptedSource("cam1", frames))
    assert stats.frames_analysed == 30
    assert stats.state == "stopped"
    left = store.series("left")
    assert [s.t for s in left] == pytest.approx([100.0, 101.0, 102.0])
    # frames alternate 2 and 0 people in 'left': mean 1.0, peak 2
    assert all(s.count == pytest.approx(1.0) and s.count_max == 2 for s in left)
    assert {s.zone_id for s in published} == {"left", "right"}
    assert len(published) == 6
    store.close()


def test_analysis_rate_limits_detector_calls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frames, detector = make_frames(50, 25.0, [people((50, 50))])
    store = SQLiteStore(":memory:")
    pipe = CameraPipeline("cam1", detector, [LEFT], store, analysis_fps=5.0)
    pipe.run(ScriptedSource("cam1", frames))
    assert pipe.health.snapshot().frames_received == 50
    assert detector.calls == 10  # 2 s of video at 5 analyses per second
    assert pipe.health.snapshot().frames_analysed == 10


def test_small_boxes_are_ignored_when_configured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tall = people((50, 50))
    small = Detections(xyxy=np.array([[40, 40, 45, 48]], np.float32), score=np.ones(1, np.float32))
    both = Detections(
        xyxy=np.concatenate([tall.xyxy, small.xyxy]), score=np.ones(2, dtype=np.float32)
    )
    frames, detector = make_frames(10, 10.0, [both])
    store = SQLiteStore(":memory:")
    pipe = CameraPipeline("cam1", detector, [LEFT], store, min_person_height_px=20)
    pipe.run(ScriptedSource("cam1", frames))
    assert [s.count for s in store.series("left")] == [1.0]


def test_a_failing_source_marks_the_camera_failed() -> None:
    class Broken:
        camera_id = "cam1"

        def frames(self):  # type: ignore[no-untyped-def]
            yield Frame("cam1", 0.0, np.zeros((10, 10, 3), np.uint8))
            raise OSError("stream died")

        def close(self) -> None: ...

    pipe = CameraPipeline("cam1", FakeDetector(), [LEFT], SQLiteStore(":memory:"))
    with pytest.raises(OSError, match="stream died"):
        pipe.run(Broken())
    assert pipe.health.snapshot().state == "failed"
    assert pipe.health.snapshot().last_error == "stream died"


def test_zone_counts_name_one_method_per_counted_zone() -> None:
    counts = ZoneCounts.detected({"left": 2, "right": 0})
    assert counts.methods == {"left": CountMethod.DETECTION, "right": CountMethod.DETECTION}
    with pytest.raises(ValueError, match=r"same zones.*\['left'\].*\['left', 'right'\]"):
        ZoneCounts({"left": 2.0}, {"left": CountMethod.DENSITY, "right": CountMethod.DETECTION})


def test_the_pipeline_reports_analysis_into_the_cameras_health_record() -> None:
    # The reader side (frames received, state) belongs to whoever reads the source; a
    # pipeline given the camera's record adds what it analysed, and the lag when frame
    # times are wall-clock times.
    now = [1000.0]
    health = CameraHealth("cam1", "rtsp://cam1", clock=lambda: now[0])
    frames, detector = make_frames(20, 10.0, [people((50, 50))])
    pipe = CameraPipeline(
        "cam1", detector, [LEFT], SQLiteStore(":memory:"), health=health, measures_lag=True
    )
    for frame in frames:  # captured at 100.0 .. 101.9, analysed 0.5 s later
        now[0] = frame.t + 0.5
        pipe.step(frame)
    snap = health.snapshot()
    assert pipe.health is health and health.frames_analysed == snap.frames_analysed == 20
    assert snap.frames_received == 0 and snap.state is StreamState.STARTING
    assert snap.lag_s == pytest.approx(0.5) and snap.analysed_fps == pytest.approx(10.0, rel=0.1)


def test_an_open_flow_bucket_is_checkpointed_to_the_store_but_not_published() -> None:
    from crowdsafe.assembly.stages import build_line_stage
    from crowdsafe.config import TrackingConfig
    from crowdsafe.measure.lines import CountingLine

    gate = CountingLine(id="gate", camera_id="cam1", name="", p1=(100, 0), p2=(100, 100), width_m=2)
    # One person walks left to right through the gate in the first 5 s, then stands.
    walk = [people((min(80.0 + 2 * i, 120.0), 60)) for i in range(56)]
    frames, detector = make_frames(56, 4.0, walk)  # t = 100 .. 113.75, in the bucket at 60
    store = SQLiteStore(":memory:")
    published: list[object] = []
    pipe = CameraPipeline(
        "cam1",
        detector,
        [LEFT],
        store,
        lines=build_line_stage([gate], TrackingConfig(), 60.0),
        on_line_samples=published.extend,
    )
    for frame in frames:
        pipe.step(frame)
    (provisional,) = store.line_series("gate")
    assert provisional.t == 60.0 and provisional.count_out + provisional.count_in == 1
    assert provisional.bucket_s == pytest.approx(110.0 - 60.0)  # checkpoints at 105, 110
    assert provisional.flow_per_m_min == pytest.approx(1 / 2 / (50.0 / 60.0))
    assert published == []  # alerts and the live feed hear closed buckets only
    pipe.finish()
    (closed,) = store.line_series("gate")
    assert (closed.t, closed.bucket_s, closed.count_in + closed.count_out) == (60.0, 60.0, 1)
    assert published == [closed]
