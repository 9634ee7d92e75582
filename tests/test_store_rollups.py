"""The rollup contract, on every backend: 1-min and 1-h rollups equal what the raw rows
give, whether read on the fly, rolled up, or half of each; late samples are rolled up
again; rollups outlive the raw rows and have their own retention."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from crowdsafe.store.rollup import GRACE_S, LOOKBACK_S
from crowdsafe.types import LevelOfService, ZoneRollup, ZoneSample

# The contract suite's fixtures (every backend), imported: ruff sees them redefined.
# ruff: noqa: F811
from tests.test_store_contract import opener, store  # noqa: F401

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, an hour's start
_LOS = list(LevelOfService)


def raw(zone: str, t: float, i: int) -> ZoneSample:
    """A sample whose values vary with ``i`` (not in step with minutes or hours)."""
    count = (i * 7919) % 23 + 0.25
    density = count / 40.0
    return ZoneSample(
        camera_id="cam1",
        zone_id=zone,
        t=t,
        count=count,
        count_max=int(count) + i % 3,
        area_m2=40.0,
        density_per_m2=density,
        los=_LOS[min(5, int(density * 5))],
        frames=1 + i % 4,
        held=i % 9 == 0,
    )


def expected(samples: list[ZoneSample], period: int) -> list[ZoneRollup]:
    """The rollups of ``samples`` worked out here, from their definition."""
    groups: dict[float, list[ZoneSample]] = {}
    for s in samples:
        groups.setdefault(math.floor(s.t / period) * period, []).append(s)
    return [
        ZoneRollup(
            camera_id=g[0].camera_id,
            zone_id=g[0].zone_id,
            t=t,
            bucket_s=float(period),
            samples=len(g),
            frames=sum(s.frames for s in g),
            count_mean=sum(s.count for s in g) / len(g),
            count_max=max(s.count_max for s in g),
            area_m2=max(s.area_m2 for s in g),
            density_mean_per_m2=sum(s.density_per_m2 for s in g) / len(g),
            density_max_per_m2=max(s.density_per_m2 for s in g),
            los_max=max(s.los for s in g),
            held=sum(s.held for s in g),
        )
        for t, g in sorted(groups.items())
    ]


def same(got: list[ZoneRollup], want: list[ZoneRollup]) -> None:
    assert [r.t for r in got] == [r.t for r in want]
    for g, w in zip(got, want, strict=True):
        assert g.count_mean == pytest.approx(w.count_mean, rel=1e-9)
        assert g.density_mean_per_m2 == pytest.approx(w.density_mean_per_m2, rel=1e-9)
        exact = replace(g, count_mean=w.count_mean, density_mean_per_m2=w.density_mean_per_m2)
        assert exact == w


@pytest.fixture
def history(store: Any) -> list[ZoneSample]:
    """2.5 h of 1-s samples of zone ``a`` (with a 5-min camera outage), a little of ``b``."""
    samples = [raw("a", T0 + i, i) for i in range(9000) if not 4000 <= i < 4300]
    for k in range(0, len(samples), 2000):
        store.write_samples(samples[k : k + 2000])
    store.write_samples([raw("b", T0 + i, i + 1) for i in range(120)])
    return samples


def test_rollups_on_the_fly_equal_the_raw_rows(store: Any, history: list[ZoneSample]) -> None:
    assert store.rollup_marks().minute_until is None  # nothing rolled up: all on the fly
    same(store.rollups("a", 60), expected(history, 60))
    same(store.rollups("a", 3600), expected(history, 3600))
    assert store.hourly_counts("a") == [(r.t, r.count_mean) for r in store.rollups("a", 3600)]


def test_rolled_up_and_mixed_reads_equal_the_raw_rows(
    store: Any, history: list[ZoneSample]
) -> None:
    # Refresh at 1 h 40 min: the first hour and 99 minutes are rolled, the rest is not.
    marks = store.refresh_rollups(T0 + 6000 + GRACE_S)
    assert marks.minute_until == T0 + 6000 and marks.hour_until == T0 + 3600
    assert marks.minutes_written == 100 - 4 + 2  # a's minutes but 4 of the outage, b's 2
    same(store.rollups("a", 60), expected(history, 60))
    same(store.rollups("a", 3600), expected(history, 3600))
    store.refresh_rollups(T0 + 9000 + GRACE_S)
    same(store.rollups("a", 60), expected(history, 60))
    same(store.rollups("a", 3600), expected(history, 3600))
    same(store.rollups("b", 60), expected([raw("b", T0 + i, i + 1) for i in range(120)], 60))


def test_a_refresh_with_nothing_new_changes_nothing(store: Any, history: list[ZoneSample]) -> None:
    first = store.refresh_rollups(T0 + 9000 + GRACE_S)
    again = store.refresh_rollups(T0 + 9000 + GRACE_S)
    assert (again.minute_until, again.hour_until) == (first.minute_until, first.hour_until)
    assert store.rollup_marks() == replace(again, minutes_written=0, hours_written=0)
    same(store.rollups("a", 60), expected(history, 60))


def test_windows_are_half_open_on_bucket_starts_and_keep_the_newest(
    store: Any, history: list[ZoneSample]
) -> None:
    store.refresh_rollups(T0 + 3000 + GRACE_S)  # rolled below 50 min, on the fly above
    minutes = expected(history, 60)
    got = store.rollups("a", 60, since=T0 + 2940, until=T0 + 3120)  # 49th-51st minutes
    same(got, [r for r in minutes if T0 + 2940 <= r.t < T0 + 3120])
    got = store.rollups("a", 60, since=T0 + 2941, until=T0 + 3121)  # mid-minute ends
    same(got, [r for r in minutes if T0 + 2941 <= r.t < T0 + 3121])
    same(store.rollups("a", 60, limit=5), minutes[-5:])
    same(store.rollups("a", 3600, since=T0 + 1), expected(history, 3600)[1:])
    assert store.rollups("a", 60, since=T0 + 500, until=T0 + 400) == []
    with pytest.raises(ValueError, match="60 or 3600"):
        store.rollups("a", 300)


def test_a_late_sample_below_the_watermark_is_rolled_up_again(
    store: Any, history: list[ZoneSample]
) -> None:
    store.refresh_rollups(T0 + 9000 + GRACE_S)
    # Far below the watermark (beyond the lookback): a backlog written after an outage.
    late = replace(
        history[10], count=500.0, count_max=600, density_per_m2=12.5, los=LevelOfService.F
    )
    assert late.t < T0 + 9000 - LOOKBACK_S - 3600
    store.write_samples([late])
    changed = [late if s.t == late.t else s for s in history]
    store.refresh_rollups(T0 + 9000 + GRACE_S)
    rolled = store.rollups("a", 60, until=T0 + 60)
    same(rolled, expected(changed, 60)[:1])
    assert rolled[0].count_max == 600 and rolled[0].los_max == LevelOfService.F
    same(store.rollups("a", 3600), expected(changed, 3600))


def test_rollups_outlive_purged_samples_and_have_their_own_retention(
    store: Any, history: list[ZoneSample]
) -> None:
    store.refresh_rollups(T0 + 9000 + GRACE_S)
    before_purge = store.rollups("a", 60)
    assert store.purge(T0 + 3600) == 3600 + 120  # a's first hour and all of b
    assert store.series("a", until=T0 + 3600) == []
    same(store.rollups("a", 60), before_purge)  # the minutes are kept
    same(store.rollups("a", 3600), expected(history, 3600))
    store.refresh_rollups(T0 + 9000 + GRACE_S)  # a refresh never deletes a rolled row
    same(store.rollups("a", 60), before_purge)
    assert store.purge_rollups(60, T0 + 1800) == 30 + 2  # a's first half hour, b's two
    assert store.rollups("a", 60)[0].t == T0 + 1800
    same(store.rollups("a", 3600), expected(history, 3600))
    assert store.purge_rollups(3600, T0 + 3600) == 2  # a's and b's first hours
    assert [r.t for r in store.rollups("a", 3600)] == [T0 + 3600, T0 + 7200]
