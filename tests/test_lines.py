"""Counting lines: the crossing rule, its failure modes, flow buckets, and real data."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from crowdsafe.evaluation.mot import load_mot_boxes, load_mot_tracks
from crowdsafe.measure.lines import CountingLine, FlowAggregator, LineCounter
from crowdsafe.types import Detections, Frame, LevelOfService, LineCrossing

SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
STADTMITTE = SHARED_EVAL / "mot15" / "TUD-Stadtmitte"
CAMPUS = SHARED_EVAL / "mot15" / "TUD-Campus"

# Drawn top to bottom at x = 100: "in" is to the right on screen.
DOWN = CountingLine(id="gate", camera_id="cam", name="Gate", p1=(100, 0), p2=(100, 200), width_m=2)


def people(feet: npt.ArrayLike, ids: npt.ArrayLike) -> Detections:
    """Tracked people whose ground points (bottom-centres) are ``feet``."""
    f = np.asarray(feet, dtype=np.float32).reshape(-1, 2)
    xyxy = np.stack([f[:, 0] - 10, f[:, 1] - 60, f[:, 0] + 10, f[:, 1]], axis=1)
    return Detections(
        xyxy=xyxy,
        score=np.ones(len(f), dtype=np.float32),
        track_id=np.asarray(ids, dtype=np.int64).reshape(-1),
    )


def run_path(
    counter: LineCounter, path: Sequence[tuple[float, float]], dt_s: float = 0.1, track_id: int = 7
) -> list[LineCrossing]:
    out: list[LineCrossing] = []
    for k, point in enumerate(path):
        out += counter.update(people([point], [track_id]), k * dt_s, "cam")
    return out


def directions(crossings: list[LineCrossing]) -> list[str]:
    return [c.direction for c in crossings]


@pytest.mark.parametrize(
    ("line", "path", "expected"),
    [
        (DOWN, [(60, 100), (80, 100), (100, 100), (120, 100), (140, 100)], ["in"]),
        (DOWN, [(140, 100), (120, 100), (100, 100), (80, 100), (60, 100)], ["out"]),
        (DOWN, [(60, 100), (140, 100)], ["in"]),  # one big step straight over the line
        # Drawn left to right at y = 100: "in" is upwards on screen.
        (CountingLine("h", "cam", "", (0, 100), (200, 100), 3.0), [(50, 150), (50, 50)], ["in"]),
        (CountingLine("h", "cam", "", (0, 100), (200, 100), 3.0), [(50, 50), (50, 150)], ["out"]),
        # Drawn bottom to top: "in" is to the left on screen.
        (CountingLine("u", "cam", "", (100, 200), (100, 0), 3.0), [(60, 100), (140, 100)], ["out"]),
        # Walking there and back through the line counts both passages.
        (DOWN, [(60, 100), (140, 100), (60, 100)], ["in", "out"]),
        (DOWN, [(60, 100), (140, 100), (60, 100), (140, 100)], ["in", "out", "in"]),
    ],
)
def test_a_clean_crossing_counts_once_in_its_direction(
    line: CountingLine, path: list[tuple[float, float]], expected: list[str]
) -> None:
    crossings = run_path(LineCounter([line]), path)
    assert directions(crossings) == expected
    assert all(c.line_id == line.id and c.camera_id == "cam" for c in crossings)


@pytest.mark.parametrize(
    ("point", "sign"),
    [((150, 100), 1.0), ((50, 100), -1.0), ((100, 500), 0.0), ((130, -40), 1.0)],
)
def test_sign_convention_matches_the_docstring(point: tuple[float, float], sign: float) -> None:
    # DOWN runs p1 (100, 0) -> p2 (100, 200): walking it, the left hand points to +x.
    d = DOWN.signed_distance_px([point])
    assert np.sign(d[0]) == sign
    assert abs(d[0]) == pytest.approx(abs(point[0] - 100))


def test_crossing_time_and_no_track_id_in_the_crossing() -> None:
    crossings = run_path(LineCounter([DOWN]), [(60, 100), (140, 100)], dt_s=0.5)
    assert crossings == [LineCrossing(camera_id="cam", line_id="gate", t=0.5, direction="in")]
    assert {f.name for f in dataclasses.fields(LineCrossing)} == {
        "camera_id",
        "line_id",
        "t",
        "direction",
    }


@pytest.mark.parametrize("amplitude_px", [1.0, 3.0, 4.9])
def test_a_box_jittering_on_the_line_does_not_count_again_and_again(amplitude_px: float) -> None:
    rng = np.random.default_rng(int(amplitude_px * 10))
    jitter = 100 + rng.uniform(-amplitude_px, amplitude_px, size=300)
    path = [(60.0, 100.0)] + [(float(x), 100.0) for x in jitter] + [(140.0, 100.0)]
    crossings = run_path(LineCounter([DOWN], margin_px=5.0, max_gap_s=1e9), path)
    assert directions(crossings) == ["in"]  # only the final, clear move over


def test_jitter_wider_than_the_margin_counts_each_real_passage_only() -> None:
    # Swinging 8 px either side of the line with a 5 px margin: every swing is a real
    # passage from clearly one side to clearly the other, and alternates direction.
    path = [(100.0 + (8.0 if k % 2 else -8.0), 100.0) for k in range(10)]
    crossings = run_path(LineCounter([DOWN], margin_px=5.0), path)
    assert directions(crossings) == ["in", "out"] * 4 + ["in"]
    assert directions(run_path(LineCounter([DOWN], margin_px=10.0), path)) == []


@pytest.mark.parametrize(
    "path",
    [
        [(100, 100), (120, 100), (160, 100)],  # born on the line, walks off it
        [(103, 100), (140, 100), (180, 100)],  # born inside the margin band
        [(98, 100), (60, 100)],
        [(140, 100), (101, 100)],  # walks onto the line and vanishes
    ],
)
def test_a_track_born_or_ending_on_the_line_does_not_count(path: list[tuple[float, float]]) -> None:
    assert run_path(LineCounter([DOWN], margin_px=5.0), path) == []


@pytest.mark.parametrize(
    ("y_px", "counted"),
    [(-30.0, False), (-1.0, False), (1.0, True), (100.0, True), (199.0, True), (230.0, False)],
)
def test_only_crossings_of_the_segment_count(y_px: float, counted: bool) -> None:
    crossings = run_path(LineCounter([DOWN]), [(60.0, y_px), (140.0, y_px)])
    assert directions(crossings) == (["in"] if counted else [])


def test_going_round_the_end_of_the_line_resets_the_side() -> None:
    # Out side -> round below the end -> in side (no count), then back through: "out".
    path = [(60, 150), (60, 260), (140, 260), (140, 150), (60, 150)]
    assert directions(run_path(LineCounter([DOWN]), path)) == ["out"]


def test_several_people_crossing_at_once_all_count() -> None:
    counter = LineCounter([DOWN])
    ids = np.arange(40)
    ys = np.linspace(5, 195, 40)
    going_in = ids % 3 != 0
    start_x = np.where(going_in, 70.0, 130.0)
    crossings: list[LineCrossing] = []
    for k in range(7):
        x = start_x + np.where(going_in, 10.0, -10.0) * k
        crossings += counter.update(people(np.stack([x, ys], axis=1), ids), 0.1 * k, "cam")
    assert directions(crossings).count("in") == int(going_in.sum())
    assert directions(crossings).count("out") == int((~going_in).sum())


def test_state_of_a_track_unseen_longer_than_max_gap_is_forgotten() -> None:
    counter = LineCounter([DOWN], max_gap_s=1.0)
    counter.update(people([(60, 100)], [1]), 0.0, "cam")
    assert counter.update(people([(140, 100)], [1]), 1.5, "cam") == []  # stale: a new track
    counter.update(people([(60, 100)], [2]), 2.0, "cam")
    assert directions(counter.update(people([(140, 100)], [2]), 2.9, "cam")) == ["in"]


def test_state_does_not_grow_without_bound() -> None:
    counter = LineCounter([DOWN], max_gap_s=1.0)
    sizes = []
    for k in range(2000):  # a new pair of tracks every frame, each seen for 5 frames
        ids = np.arange(2 * (k // 5), 2 * (k // 5) + 2)
        counter.update(people([(60, 100), (140, 120)], ids), 0.1 * k, "cam")
        sizes.append(counter.state_size)
    assert max(sizes) <= 2 * 11 + 2  # tracks of the last max_gap_s only
    assert sizes[-1] <= sizes[100] + 2


def test_lines_of_other_cameras_are_left_alone() -> None:
    other = CountingLine(
        id="gate", camera_id="cam2", name="", p1=(100, 0), p2=(100, 200), width_m=1
    )
    counter = LineCounter([DOWN, other])
    crossings = run_path(counter, [(60, 100), (140, 100)])
    assert [(c.camera_id, c.line_id) for c in crossings] == [("cam", "gate")]
    assert counter.update(people([(60, 100)], [1]), 0.0, "nowhere") == []


def test_time_going_back_resets_the_camera() -> None:
    counter = LineCounter([DOWN])
    counter.update(people([(60, 100)], [1]), 10.0, "cam")
    assert counter.update(people([(140, 100)], [1]), 0.0, "cam") == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LineCounter([DOWN]).update(Detections(), 0.0, "cam"), "needs tracked detections"),
        (lambda: LineCounter([DOWN]).update(people([(1, 1), (2, 2)], [3, 3]), 0.0, "cam"), "twice"),
        (lambda: LineCounter([DOWN], margin_px=-1), "margin_px must be a finite number"),
        (lambda: LineCounter([DOWN], max_gap_s=0), "max_gap_s must be > 0 seconds, got 0"),
        (lambda: LineCounter([DOWN, DOWN]), "repeated: [('cam', 'gate')]"),
        (lambda: CountingLine("a", "c", "", (5, 5), (5, 5.5), 1.0), "at least 1 px apart"),
        (lambda: CountingLine("a", "c", "", (0, 0), (9, 9), 0.0), "width_m must be a finite"),
        (lambda: CountingLine("a", "c", "", (0, float("nan")), (9, 9), 1.0), "must be finite"),
        (lambda: CountingLine("", "c", "", (0, 0), (9, 9), 1.0), "non-empty"),
        (lambda: FlowAggregator([DOWN], bucket_s=0), "bucket_s must be a finite number"),
    ],
)
def test_bad_arguments_are_refused_with_the_value(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()  # type: ignore[operator]


def crossing(direction: str, t: float = 0.0, line: CountingLine = DOWN) -> LineCrossing:
    return LineCrossing(camera_id=line.camera_id, line_id=line.id, t=t, direction=direction)


@pytest.mark.parametrize(
    ("n_in", "n_out", "width_m", "bucket_s", "flow", "los"),
    [
        (4, 2, 2.0, 60.0, 3.0, LevelOfService.A),  # 6 people through 2 m in a minute
        (0, 0, 2.0, 60.0, 0.0, LevelOfService.A),
        (3, 0, 1.5, 10.0, 12.0, LevelOfService.A),  # 3 / 1.5 m / (1/6 min)
        (22, 23, 2.0, 60.0, 22.5, LevelOfService.A),
        (23, 23, 2.0, 60.0, 23.0, LevelOfService.B),  # a flow band's lower bound is inclusive
        (82, 0, 1.0, 60.0, 82.0, LevelOfService.E),  # 82 itself is still E
        (83, 0, 1.0, 60.0, 83.0, LevelOfService.F),
    ],
)
def test_flow_per_metre_per_minute_and_its_level(
    n_in: int, n_out: int, width_m: float, bucket_s: float, flow: float, los: LevelOfService
) -> None:
    line = dataclasses.replace(DOWN, width_m=width_m)
    agg = FlowAggregator([line], bucket_s=bucket_s)
    batch = [crossing("in", line=line)] * n_in + [crossing("out", line=line)] * n_out
    assert agg.add(batch, 0.0, "cam") == []
    (sample,) = agg.flush()
    assert (sample.count_in, sample.count_out) == (n_in, n_out)
    assert sample.flow_per_m_min == pytest.approx(flow)
    assert sample.los is los
    assert (sample.t, sample.bucket_s, sample.width_m) == (0.0, bucket_s, width_m)


def test_every_bucket_with_frames_gets_a_sample_even_without_crossings() -> None:
    other = CountingLine(id="exit", camera_id="cam", name="", p1=(0, 0), p2=(50, 0), width_m=1)
    agg = FlowAggregator([DOWN, other], bucket_s=10.0)
    samples = []
    samples += agg.add([crossing("in", 1.0)], 1.0, "cam")
    samples += agg.add([], 5.0, "cam")
    samples += agg.add([], 12.0, "cam")  # closes [0, 10)
    samples += agg.add([], 45.0, "cam")  # camera down 20-40 s: no samples there
    samples += agg.flush()
    got = [(s.t, s.line_id, s.count_in, s.count_out) for s in samples]
    assert got == [
        (0.0, "gate", 1, 0),
        (0.0, "exit", 0, 0),
        (10.0, "gate", 0, 0),
        (10.0, "exit", 0, 0),
        (40.0, "gate", 0, 0),
        (40.0, "exit", 0, 0),
    ]
    assert agg.flush() == []


def test_flow_buckets_are_kept_per_camera() -> None:
    other = CountingLine(id="door", camera_id="cam2", name="", p1=(0, 0), p2=(50, 0), width_m=1)
    agg = FlowAggregator([DOWN, other], bucket_s=10.0)
    agg.add([crossing("out", 1.0)], 1.0, "cam")
    assert agg.add([], 15.0, "cam2") == []  # another camera's frame closes nothing here
    samples = agg.flush()
    assert [(s.camera_id, s.t, s.count_out) for s in samples] == [
        ("cam", 0.0, 1),
        ("cam2", 10.0, 0),
    ]


# Analysed frames from t = 60.2 (a minute bucket opened 0.2 s late), one crossing at each.
# (frame time, the checkpoint expected then: (bucket_s covered, crossings so far))
CHECKPOINT_CASES = [
    (60.2, None),  # opens the bucket
    (65.1, None),  # 4.9 s since it opened: not yet
    (65.2, (5.2, 3)),  # 5 s since it opened: covered 60-65.2
    (68.0, None),
    (70.2, (10.2, 5)),
    (119.9, (59.9, 6)),  # the last frame of the minute
]


def test_open_flow_bucket_is_checkpointed_every_few_seconds_with_its_rate_so_far() -> None:
    agg = FlowAggregator([DOWN], bucket_s=60.0, checkpoint_s=5.0)
    for t, expected in CHECKPOINT_CASES:
        assert agg.add([crossing("in", t)], t, "cam") == []
        got = agg.checkpoint(t, "cam")
        if expected is None:
            assert got == []
            continue
        (sample,) = got
        span_s, count = expected
        assert (sample.t, sample.count_in, sample.count_out) == (60.0, count, 0)
        assert sample.bucket_s == pytest.approx(span_s)
        assert sample.flow_per_m_min == pytest.approx(count / 2.0 / (span_s / 60.0))
    # The closing sample is the whole minute, whatever the checkpoints said.
    (closed,) = agg.add([], 120.1, "cam")
    assert (closed.t, closed.bucket_s, closed.count_in) == (60.0, 60.0, 6)
    assert closed.flow_per_m_min == pytest.approx(6 / 2.0)
    assert agg.checkpoint(120.1, "cam") == []  # the new bucket is 0 s old


def test_checkpoint_needs_an_open_bucket_and_a_positive_period() -> None:
    assert FlowAggregator([DOWN]).checkpoint(100.0, "cam") == []
    with pytest.raises(ValueError, match="checkpoint_s must be a finite number"):
        FlowAggregator([DOWN], checkpoint_s=0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (LineCrossing("cam", "nope", 0.0, "in"), "line 'nope' on camera 'cam' does not belong"),
        (LineCrossing("cam2", "gate", 0.0, "in"), "does not belong to camera 'cam'"),
        (LineCrossing("cam", "gate", 0.0, "sideways"), "got 'sideways'"),
    ],
)
def test_flow_refuses_foreign_crossings(bad: LineCrossing, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        FlowAggregator([DOWN]).add([bad], 0.0, "cam")


def test_mot_tracks_loader_keeps_ids_and_drops_ignored_rows(tmp_path: Path) -> None:
    gt = tmp_path / "gt.txt"
    gt.write_text("1,4,10,20,30,40,1,0,0,0\n1,5,0,0,5,5,0,0,0,0\n2,4,12,20,30,40,1,0,0,0\n")
    tracks = load_mot_tracks(gt)
    assert sorted(tracks) == [1, 2]
    assert tracks[1].track_id is not None
    assert tracks[1].track_id.tolist() == [4]
    assert tracks[2].xyxy.tolist() == [[12.0, 20.0, 42.0, 60.0]]
    assert load_mot_boxes(gt)[1].tolist() == [[10.0, 20.0, 40.0, 60.0]]


requires_mot15 = pytest.mark.skipif(
    not (STADTMITTE / "gt" / "gt.txt").is_file(),
    reason=f"MOT15 evaluation data not found at {SHARED_EVAL / 'mot15'} (CI has ../shared)",
)


# The 29 vertical lines x = 40...600 of the README's line tables, on each sequence.
LINE_SETS = {
    "TUD-Stadtmitte": [(float(x), 180.0, float(x), 440.0) for x in range(40, 601, 20)],
    "TUD-Campus": [(float(x), 0.0, float(x), 479.0) for x in range(40, 601, 20)],
}


@requires_mot15
@pytest.mark.slow
@pytest.mark.parametrize(
    ("seq", "gt_crossings", "max_abs_error"),
    [
        # Measured with the defaults (YOLOX-Nano 512 px, the config's tracking), every
        # frame: 9 of 93 (issue 12's bound is 10 %, so 9).  One line decides nothing.
        (STADTMITTE, 93, 9),
        # Measured: 7 of 103; 2 of slack.
        (CAMPUS, 103, 9),
    ],
)
def test_the_default_line_stage_stays_within_its_measured_error_over_29_lines(
    seq: Path, gt_crossings: int, max_abs_error: int
) -> None:
    from crowdsafe.assembly import build_detector
    from crowdsafe.config import CameraConfig, TrackingConfig
    from crowdsafe.evaluation.lines import evaluate_line_set

    tracking = TrackingConfig()
    default_section = CameraConfig.model_fields["detector"].default_factory
    assert default_section is not None
    section = default_section()  # type: ignore[call-arg]
    detector = build_detector(section, score_threshold=tracking.low_score, threads=2)
    report = evaluate_line_set(
        detector,
        seq / f"{seq.name}.mp4",
        seq / "gt" / "gt.txt",
        LINE_SETS[seq.name],
        every=1,
        tracking=tracking,
    ).to_dict()
    total = report["total"]
    assert isinstance(total, dict)
    assert total["gt_in"] + total["gt_out"] == gt_crossings  # the truth itself is golden
    abs_error = total["abs_error_in"] + total["abs_error_out"]
    assert abs_error <= max_abs_error, total
    assert report["frames"] == {"TUD-Stadtmitte": 179, "TUD-Campus": 71}[seq.name]


class _AnnotatedBoxes:
    """A detector that returns the annotated boxes of each frame (a perfect detector)."""

    def __init__(self, gt: Path) -> None:
        self.boxes = load_mot_boxes(gt)

    def detect(self, frame: Frame) -> Detections:
        xyxy = self.boxes.get(frame.index + 1, np.zeros((0, 4), np.float32)).astype(np.float32)
        return Detections(xyxy=xyxy, score=np.full(len(xyxy), 0.9, np.float32))


@requires_mot15
def test_several_lines_in_one_run_match_each_line_alone_and_sum_up() -> None:
    from crowdsafe.evaluation.lines import evaluate_line_set, evaluate_lines

    video, gt = CAMPUS / "TUD-Campus.mp4", CAMPUS / "gt" / "gt.txt"
    lines = [(280.0, 300.0, 280.0, 479.0), (200.0, 250.0, 200.0, 479.0), (479.0, 0.0, 40.0, 479.0)]
    report = evaluate_line_set(_AnnotatedBoxes(gt), video, gt, lines).to_dict()
    per_line = report["lines"]
    assert isinstance(per_line, list) and len(per_line) == 3
    for line, row in zip(lines, per_line, strict=True):
        alone = evaluate_lines(_AnnotatedBoxes(gt), video, gt, line).to_dict()
        assert {k: alone[k] for k in row} == row
    assert sum(r["gt_in"] + r["gt_out"] for r in per_line) > 0  # the lines are crossed
    total = report["total"]
    assert isinstance(total, dict)
    for d in ("in", "out"):
        assert total[f"gt_{d}"] == sum(r[f"gt_{d}"] for r in per_line)
        assert total[f"counted_{d}"] == sum(r[f"counted_{d}"] for r in per_line)
        assert total[f"abs_error_{d}"] == sum(
            abs(r[f"counted_{d}"] - r[f"gt_{d}"]) for r in per_line
        )
    assert total["exact_lines"] == sum(
        r["counted_in"] == r["gt_in"] and r["counted_out"] == r["gt_out"] for r in per_line
    )
    with pytest.raises(ValueError, match="at least one line"):
        evaluate_line_set(_AnnotatedBoxes(gt), video, gt, [])
