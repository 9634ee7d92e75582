"""The streamlined bucket path (``BucketAggregator``, ``DensityTerms``, ``space_los``)
against the implementation it replaced, copied here as the reference: for random zones,
counts, methods and times the samples must be the same, float for float (compared by
``repr``, which writes every bit of a float)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsafe.measure.los import space_los
from crowdsafe.measure.uncertainty import DensityEstimate, DensityTerms, estimate_density
from crowdsafe.measure.zones import BucketAggregator, Zone
from crowdsafe.types import CountMethod, LevelOfService, ZoneSample

# -- the reference: the code as it was before it was streamlined -------------------------
_LEVELS = tuple(LevelOfService)


def old_space_los(density_per_m2: float, bounds_m2: Sequence[float]) -> LevelOfService:
    if len(bounds_m2) != 5:
        raise ValueError(f"space bounds need 5 values (A..E lower bounds), got {len(bounds_m2)}")
    if density_per_m2 < 0 or math.isnan(density_per_m2):
        raise ValueError(f"density must be >= 0 persons/m², got {density_per_m2}")
    if density_per_m2 == 0:
        return LevelOfService.A
    space = round(1.0 / density_per_m2, 9)
    for level, lower in zip(_LEVELS, bounds_m2, strict=False):
        if space > lower:
            return level
    return LevelOfService.F


def old_estimate_density(
    count: float,
    area_m2: float,
    *,
    precision: float,
    recall: float,
    perimeter_m: float,
    calibration_rms_m: float,
    relative_error: float = 0.0,
) -> DensityEstimate:
    if area_m2 <= 0:
        raise ValueError(f"area_m2 must be > 0, got {area_m2}")
    if not (0 < precision <= 1 and 0 < recall <= 1):
        raise ValueError(f"precision and recall must be in (0, 1], got {precision}, {recall}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    n = count * precision / recall
    var_n = n * (1.0 - recall) / recall + count * precision * (1.0 - precision)
    var_n = max(var_n, (1.0 - recall) / recall)
    var_n += (relative_error * n) ** 2
    rel_area = perimeter_m * calibration_rms_m / area_m2
    density = n / area_m2
    sigma = math.sqrt(var_n / area_m2**2 + (density * rel_area) ** 2)
    return DensityEstimate(
        density_per_m2=density,
        low_per_m2=max(0.0, density - 1.96 * sigma),
        high_per_m2=density + 1.96 * sigma,
        count_estimate=n,
    )


@dataclass
class _OldBucket:
    start: float
    frames: int = 0
    held_frames: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    methods: dict[str, CountMethod] = field(default_factory=dict)


class OldBucketAggregator:
    def __init__(self, camera_id: str, zones: Sequence[Zone], bucket_s: float = 1.0) -> None:
        self.camera_id = camera_id
        self.zones = {z.id: z for z in zones}
        self.bucket_s = bucket_s
        self._bucket: _OldBucket | None = None

    def add(
        self,
        t: float,
        counts: Mapping[str, float],
        methods: Mapping[str, CountMethod] | None = None,
        *,
        held: bool = False,
    ) -> list[ZoneSample]:
        start = math.floor(t / self.bucket_s) * self.bucket_s
        closed: list[ZoneSample] = []
        if self._bucket is not None and start != self._bucket.start:
            closed = self.flush()
        if self._bucket is None:
            self._bucket = _OldBucket(start=start)
        b = self._bucket
        b.frames += 1
        b.held_frames += held
        for zone_id, n in counts.items():
            b.totals[zone_id] = b.totals.get(zone_id, 0) + n
            b.peaks[zone_id] = max(b.peaks.get(zone_id, 0), n)
        if methods:
            b.methods.update(methods)
        return closed

    def flush(self) -> list[ZoneSample]:
        b, self._bucket = self._bucket, None
        if b is None or b.frames == 0:
            return []
        samples = []
        for zone_id, zone in self.zones.items():
            mean = b.totals.get(zone_id, 0) / b.frames
            method = CountMethod(b.methods.get(zone_id, CountMethod.DETECTION))
            by_density = method is CountMethod.DENSITY
            est = old_estimate_density(
                mean,
                zone.area_m2,
                precision=1.0 if by_density else zone.precision,
                recall=1.0 if by_density else zone.recall,
                perimeter_m=zone.perimeter_m,
                calibration_rms_m=zone.calibration_rms_m,
                relative_error=zone.density_relative_error if by_density else 0.0,
            )
            samples.append(
                ZoneSample(
                    camera_id=self.camera_id,
                    zone_id=zone_id,
                    t=b.start,
                    count=mean,
                    count_max=round(b.peaks.get(zone_id, 0)),
                    area_m2=zone.area_m2,
                    density_per_m2=est.density_per_m2,
                    density_low_per_m2=est.low_per_m2,
                    density_high_per_m2=est.high_per_m2,
                    los=old_space_los(est.density_per_m2, zone.space_bounds_m2),
                    frames=b.frames,
                    method=method,
                    held=b.held_frames == b.frames,
                )
            )
        return samples


# -- random inputs ------------------------------------------------------------------------
RATE = st.floats(0.05, 1.0)
BOUNDS = st.lists(st.floats(0.05, 8.0), min_size=5, max_size=5).map(
    lambda b: tuple(sorted(b, reverse=True))
)


@st.composite
def zones(draw: st.DrawFn) -> list[Zone]:
    n = draw(st.integers(1, 4))
    return [
        Zone(
            id=f"z{i}",
            camera_id="cam1",
            name=f"z{i}",
            polygon_px=np.zeros((0, 2)),
            area_m2=draw(st.floats(0.5, 500.0)),
            space_bounds_m2=draw(BOUNDS),
            precision=draw(RATE),
            recall=draw(RATE),
            perimeter_m=draw(st.floats(0.0, 100.0)),
            calibration_rms_m=draw(st.floats(0.0, 1.0)),
            density_relative_error=draw(st.floats(0.0, 0.5)),
        )
        for i in range(n)
    ]


METHOD = st.sampled_from([CountMethod.DETECTION, CountMethod.DENSITY, "density", "detection"])
# Whole people (detection) and fractions of people (the density model), zero included.
COUNT = st.one_of(st.integers(0, 60), st.floats(0.0, 200.0), st.just(0.0))


@st.composite
def frames(
    draw: st.DrawFn, ids: list[str]
) -> list[tuple[float, dict[str, float], dict[str, CountMethod] | None, bool]]:
    t = draw(st.floats(0.0, 2e9))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        t += draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0]))
        # a frame may name some zones only, or a zone the aggregator does not know
        named = draw(st.lists(st.sampled_from([*ids, "elsewhere"]), unique=True))
        counts = {z: draw(COUNT) for z in named}
        methods = draw(st.none() | st.fixed_dictionaries({z: METHOD for z in named}))
        out.append((t, counts, methods, draw(st.booleans())))
    return out


@settings(max_examples=300, deadline=None)
@given(zones().flatmap(lambda zs: st.tuples(st.just(zs), frames([z.id for z in zs]))), RATE)
def test_samples_are_the_same_as_before_bit_for_bit(
    case: tuple[
        list[Zone], list[tuple[float, dict[str, float], dict[str, CountMethod] | None, bool]]
    ],
    bucket_s: float,
) -> None:
    zs, script = case
    new, old = BucketAggregator("cam1", zs, bucket_s), OldBucketAggregator("cam1", zs, bucket_s)
    for t, counts, methods, held in script:
        got = new.add(t, counts, methods, held=held)
        assert repr(got) == repr(old.add(t, counts, methods, held=held))
        assert all(type(s.method) is CountMethod for s in got)
    assert repr(new.flush()) == repr(old.flush())
    assert new.flush() == []


@given(
    COUNT,
    st.floats(0.01, 1e4),
    RATE,
    RATE,
    st.floats(0.0, 100.0),
    st.floats(0.0, 2.0),
    st.floats(0.0, 1.0),
)
def test_density_terms_estimate_as_before(
    count: float,
    area_m2: float,
    precision: float,
    recall: float,
    perimeter_m: float,
    rms_m: float,
    relative_error: float,
) -> None:
    kw = {
        "precision": precision,
        "recall": recall,
        "perimeter_m": perimeter_m,
        "calibration_rms_m": rms_m,
        "relative_error": relative_error,
    }
    want = repr(old_estimate_density(count, area_m2, **kw))
    assert repr(estimate_density(count, area_m2, **kw)) == want
    assert repr(DensityTerms.of(area_m2, **kw).estimate(count)) == want


@given(st.one_of(st.floats(0.0, 50.0), st.just(0.0), st.sampled_from([1 / 3.7, 1 / 0.75])), BOUNDS)
def test_space_levels_as_before(density: float, bounds: tuple[float, ...]) -> None:
    assert space_los(density, bounds) is old_space_los(density, bounds)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: DensityTerms.of(0.0, precision=1, recall=1, perimeter_m=0, calibration_rms_m=0),
            "area_m2",
        ),
        (
            lambda: DensityTerms.of(1.0, precision=0, recall=1, perimeter_m=0, calibration_rms_m=0),
            "precision",
        ),
        (
            lambda: DensityTerms.of(
                1.0, precision=1, recall=1, perimeter_m=0, calibration_rms_m=0
            ).estimate(-1),
            "count",
        ),
        (lambda: space_los(float("nan")), "density must be >= 0"),
        (lambda: space_los(-0.5), "density must be >= 0"),
    ],
)
def test_bad_values_are_refused_as_before(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_a_zone_with_no_area_still_fails_where_its_sample_is_made() -> None:
    flat = Zone(
        "flat", "cam1", "flat", np.zeros((0, 2)), area_m2=0.0, space_bounds_m2=(1, 1, 1, 1, 1)
    )
    agg = BucketAggregator("cam1", [flat])  # made without complaint, as before
    agg.add(0.0, {"flat": 1})
    with pytest.raises(ValueError, match="area_m2 must be > 0"):
        agg.flush()
