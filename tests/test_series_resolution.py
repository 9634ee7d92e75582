"""The resolution a series is read at: the choice as a table, then through a real server.

The API tests write raw samples over 26 hours, roll up part of them (so reads cross the
watermark), and check every row the API returns against minutes and hours computed
here from the samples written: mean, maximum, sample count, frames, held, worst level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crowdsafe.api.schemas import ZoneRollupPublic
from crowdsafe.assembly import build_zones
from crowdsafe.config import parse_config
from crowdsafe.config.storage import SqliteStorageConfig
from crowdsafe.site import FakeSite
from crowdsafe.store.resolution import (
    Choice,
    Kept,
    Resolutions,
    SeriesResolution,
    choose,
)
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import LevelOfService, ZoneRollup, ZoneSample
from tests.authn import Served
from tests.test_api import serving
from tests.test_forecast import fill_history

H = 3600.0
D = 86400.0
NOW = 1_800_000_000.0
AUTO, RAW, MINUTE, HOUR = (
    SeriesResolution.AUTO,
    SeriesResolution.RAW,
    SeriesResolution.MINUTE,
    SeriesResolution.HOUR,
)


# -- the choice, pure ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("asked", "span_s", "limit", "kept", "bucket_s", "expected", "name", "reason"),
    [
        (AUTO, 600, 10_000, Kept(), 1.0, RAW, "1s", "10 min window: 600 rows"),
        (AUTO, H, 10_000, Kept(), 1.0, RAW, "1s", "1 h window: 3600 rows"),
        (AUTO, H + 1, 10_000, Kept(), 1.0, MINUTE, "1m", "over 1 h at 1s"),
        (AUTO, 600, 100, Kept(), 1.0, MINUTE, "1m", "600 rows at 1s over limit 100"),
        (AUTO, 6 * H, 10_000, Kept(), 1.0, MINUTE, "1m", "6 h window: 360 rows"),
        (AUTO, 3 * D, 10_000, Kept(), 1.0, MINUTE, "1m", "3 d window: 4320 rows"),
        (AUTO, 7 * D, 10_080, Kept(), 1.0, MINUTE, "1m", "7 d window: 10080 rows"),
        (AUTO, 7 * D, 10_000, Kept(), 1.0, HOUR, "1h", "10080 rows at 1m over limit 10000"),
        (AUTO, 8 * D, 10_000, Kept(), 1.0, HOUR, "1h", "over 7 d at 1m"),
        (AUTO, 6 * H, 100, Kept(), 1.0, HOUR, "1h", "360 rows at 1m over limit 100"),
        (AUTO, 600, 10_000, Kept(samples_days=0.005), 1.0, MINUTE, "1m", "raw samples are kept"),
        (AUTO, 600, 10_000, Kept(samples_days=0.01), 1.0, RAW, "1s", "600 rows"),
        (AUTO, 2 * D, 10_000, Kept(minutes_days=1), 1.0, HOUR, "1h", "minutes are kept 1 d"),
        (AUTO, 2 * D, 10_000, Kept(minutes_days=3, hours_days=1), 1.0, MINUTE, "1m", "2 d"),
        (AUTO, 600, 10_000, Kept(), 0.5, RAW, "0.5s", "1200 rows"),
        (AUTO, 0, 10_000, Kept(), 1.0, RAW, "1s", "0 s window: 0 rows"),
        (RAW, 30 * D, 10, Kept(samples_days=1), 1.0, RAW, "1s", "asked for"),
        (MINUTE, 30 * D, 10, Kept(minutes_days=1), 1.0, MINUTE, "1m", "asked for"),
        (HOUR, 60, 10, Kept(), 1.0, HOUR, "1h", "asked for"),
        (RAW, 60, 10, Kept(), 2.0, RAW, "2s", "asked for"),
    ],
)
def test_auto_takes_the_finest_resolution_that_fits_the_limit_a_chart_and_retention(
    asked: SeriesResolution,
    span_s: float,
    limit: int,
    kept: Kept,
    bucket_s: float,
    expected: SeriesResolution,
    name: str,
    reason: str,
) -> None:
    got = choose(
        asked,
        start=NOW - span_s,
        until=NOW,
        now=NOW,
        limit=limit,
        resolutions=Resolutions(bucket_s, kept),
    )
    assert (got.resolution, got.name) == (expected, name)
    assert got.period_s == {RAW: bucket_s, MINUTE: 60.0, HOUR: 3600.0}[expected]
    assert reason in got.reason


def test_the_window_ends_now_at_the_latest_and_an_empty_history_reads_raw() -> None:
    # no until, or one far ahead: nothing is stored after now, so the span ends there
    for until in (None, NOW + 30 * D):
        assert choose(AUTO, start=NOW - 600, until=until, now=NOW, limit=10_000).name == "1s"
    assert choose(AUTO, start=NOW + 60, until=None, now=NOW, limit=10_000).name == "1s"
    got = choose(AUTO, start=None, until=None, now=NOW, limit=10_000)
    assert got == Choice(RAW, 1.0, "nothing stored")
    # the defaults: a 1-s bucket, nothing purged
    assert choose(AUTO, start=NOW - 30 * D, until=NOW, now=NOW, limit=10**5).name == "1h"


def test_the_horizons_are_read_from_the_storage_section_when_it_has_them() -> None:
    section = SqliteStorageConfig(bucket_s=2.0)  # storage.retention's defaults
    assert Resolutions.of(section) == Resolutions(2.0, Kept(30.0, 400.0, None))
    retention = SimpleNamespace(samples_days=7.0, minutes_days=90.0, hours_days=None)
    with_retention = SimpleNamespace(bucket_s=1.0, retention=retention)
    assert Resolutions.of(with_retention) == Resolutions(1.0, Kept(7.0, 90.0, None))


def test_the_public_rollup_has_exactly_the_stored_fields_and_json() -> None:
    r = ZoneRollup(
        "cam1", "left", 60.0, 60.0, 60, 300, 2.5, 4, 50.0, 0.05, 0.08, LevelOfService.B, 3
    )
    assert set(ZoneRollupPublic.model_fields) == {f.name for f in fields(ZoneRollup)}
    public = ZoneRollupPublic.model_validate(r.to_dict())
    assert list(public.model_dump(mode="json").items()) == list(r.to_dict().items())


# -- through a real server -------------------------------------------------------------
STEP_S = 5.0
"""One sample every 5 s: 18,720 over 26 hours, enough minutes and hours to compare."""


def _sample(t: float) -> ZoneSample:
    k = int(t // STEP_S)
    count = (k % 17) * 0.5
    density = count / 50.0
    return ZoneSample(
        camera_id="cam1",
        zone_id="left",
        t=t,
        count=count,
        count_max=int(count) + k % 3,
        area_m2=50.0,
        density_per_m2=density,
        los=LevelOfService.A if density < 0.1 else LevelOfService.B,
        frames=5 + k % 2,
        held=k % 7 == 0,
    )


def _expected(samples: list[ZoneSample], period: float) -> list[dict[str, Any]]:
    """Rollups of ``period`` computed here from the samples: what the API must give."""
    groups: dict[float, list[ZoneSample]] = {}
    for s in samples:
        groups.setdefault(math.floor(s.t / period) * period, []).append(s)
    return [
        {
            "t": t,
            "bucket_s": period,
            "samples": len(g),
            "frames": sum(s.frames for s in g),
            "count_mean": sum(s.count for s in g) / len(g),
            "count_max": max(s.count_max for s in g),
            "density_mean_per_m2": sum(s.density_per_m2 for s in g) / len(g),
            "density_max_per_m2": max(s.density_per_m2 for s in g),
            "los_max": max(s.los.value for s in g),
            "held": sum(s.held for s in g),
        }
        for t, g in sorted(groups.items())
    ]


def _same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [r["t"] for r in got] == [r["t"] for r in want]
    for g, w in zip(got, want, strict=True):
        for key, value in w.items():
            close = value if isinstance(value, str) else pytest.approx(value, rel=1e-9, abs=1e-12)
            assert g[key] == close, (key, g["t"])


@pytest.fixture
def history(tmp_path: Path, config_text: str) -> Iterator[tuple[Served, list[ZoneSample], float]]:
    """26 hours of samples of zone left ending an hour before now, half of them rolled
    up; a served FakeSite over them; and the samples and the start."""
    config = parse_config(config_text)
    store = SQLiteStore(tmp_path / "site.db")
    end = math.floor(time.time() / H) * H - H
    start = end - 26 * H
    samples = [_sample(start + STEP_S * i) for i in range(int(26 * H / STEP_S))]
    store.write_samples(samples)
    store.refresh_rollups(start + 13 * H + 20 * 60)  # reads cross the watermarks
    site = FakeSite(store=store, zone_list=build_zones(config.cameras[0], config.thresholds))
    with serving(site) as base:
        yield base, samples, start
    store.close()


def _series(base: Served, **params: Any) -> dict[str, Any]:
    r = base.get("/api/zones/left/series", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_ten_minute_window_reads_the_raw_samples(
    history: tuple[Served, list[ZoneSample], float],
) -> None:
    base, samples, start = history
    lo, hi = start + 13 * H, start + 13 * H + 600
    body = _series(base, since=lo, until=hi)
    assert (body["resolution"], body["resolution_reason"]) == ("1s", "10 min window: 600 rows")
    assert body["rollups"] == []
    want = [s for s in samples if lo <= s.t < hi]
    assert len(want) == 120
    assert [(s["t"], s["count"], s["held"]) for s in body["samples"]] == [
        (s.t, s.count, s.held) for s in want
    ]


@pytest.mark.parametrize(
    ("from_h", "to_h", "reason", "minutes"),
    [
        # across the minute watermark
        (10, 16, "6 h window: 360 rows (over 1 h at 1s)", 360),
        # from before the history starts
        (-48, 24, "3 d window: 4320 rows (over 1 h at 1s)", 24 * 60),
    ],
)
def test_hours_to_days_read_the_minutes_equal_to_the_raw_rows(
    history: tuple[Served, list[ZoneSample], float],
    from_h: float,
    to_h: float,
    reason: str,
    minutes: int,
) -> None:
    base, samples, start = history
    lo, hi = start + from_h * H, start + to_h * H
    body = _series(base, since=lo, until=hi)
    assert (body["resolution"], body["resolution_reason"]) == ("1m", reason)
    assert body["samples"] == []
    want = _expected([s for s in samples if lo <= s.t < hi], 60)
    assert len(want) == minutes
    _same(body["rollups"], want)


def test_a_window_over_a_week_reads_the_hours_equal_to_the_raw_rows(
    history: tuple[Served, list[ZoneSample], float],
) -> None:
    base, samples, start = history
    body = _series(base, since=start - 7 * D, until=start + 2 * D)
    assert body["resolution"] == "1h" and "over 7 d at 1m" in body["resolution_reason"]
    want = _expected(samples, 3600)
    assert len(want) == 26
    _same(body["rollups"], want)


def test_the_limit_moves_auto_to_a_coarser_resolution(
    history: tuple[Served, list[ZoneSample], float],
) -> None:
    base, samples, start = history
    lo, hi = start + 10 * H, start + 16 * H
    body = _series(base, since=lo, until=hi, limit=100)
    assert body["resolution"] == "1h"
    assert "360 rows at 1m over limit 100" in body["resolution_reason"]
    _same(body["rollups"], _expected([s for s in samples if lo <= s.t < hi], 3600))


def test_a_forced_resolution_is_read_as_asked(
    history: tuple[Served, list[ZoneSample], float],
) -> None:
    base, samples, start = history
    lo, hi = start + 10 * H, start + 16 * H
    raw = _series(base, since=lo, until=hi, limit=100, resolution="raw")
    assert (raw["resolution"], raw["resolution_reason"]) == ("1s", "asked for")
    assert [s["t"] for s in raw["samples"]] == [s.t for s in samples if lo <= s.t < hi][-100:]
    # an hour starting in a 10-min window: the whole hour, as its rollup holds it
    hour = _series(base, since=lo, until=lo + 600, resolution="1h")
    assert hour["resolution"] == "1h" and hour["samples"] == []
    _same(hour["rollups"], _expected([s for s in samples if lo <= s.t < lo + H], 3600))
    minutes = _series(base, since=lo, until=lo + 600, resolution="1m")
    _same(minutes["rollups"], _expected([s for s in samples if lo <= s.t < lo + 600], 60))
    empty = _series(base, since=hi, until=lo, resolution="1m")
    assert empty["rollups"] == [] and empty["samples"] == []
    assert base.get("/api/zones/left/series", params={"resolution": "5m"}).status_code == 422


def test_without_since_auto_measures_the_stored_history(
    history: tuple[Served, list[ZoneSample], float],
) -> None:
    base, samples, start = history
    # 26 h of samples ending an hour ago: ~27 h to now, read at 1 min
    body = _series(base)
    assert body["resolution"] == "1m" and body["resolution_reason"].startswith("1.1")
    _same(body["rollups"], _expected(samples, 60))
    # before the history starts nothing is stored: the raw rows, none
    assert _series(base, until=start) == {
        "zone_id": "left",
        "since": None,
        "until": start,
        "resolution": "1s",
        "resolution_reason": "nothing stored",
        "samples": [],
        "rollups": [],
    }
    # a short recent history: raw, like before resolutions existed
    short = _series(base, until=start + 600)
    assert short["resolution"] == "1s" and len(short["samples"]) == 120


# -- the forecast says what it read ----------------------------------------------------
def test_the_forecast_and_the_nowcast_say_their_resolution(
    tmp_path: Path, config_text: str
) -> None:
    config = parse_config(config_text)
    store = SQLiteStore(tmp_path / "site.db")
    now = time.time()
    fill_history(store, "left", 3 * 168, now - H)
    recent = [
        ZoneSample("cam1", "left", now - 600 + 10 * i, 3.0, 3, 50.0, 0.06, LevelOfService.A, 5)
        for i in range(60)
    ]
    store.write_samples(recent)
    start = (math.floor((now - H) / H) - 3 * 168) * H
    hours = {start + H * i for i in range(3 * 168)} | {math.floor(s.t / H) * H for s in recent}
    site = FakeSite(
        store=store,
        zone_list=build_zones(config.cameras[0], config.thresholds),
        resolutions=Resolutions(bucket_s=2.0),
    )
    with serving(site) as base:
        fc = base.get("/api/zones/left/forecast", timeout=60).json()
        nc = base.get("/api/zones/left/nowcast").json()
        raw = base.get("/api/zones/left/series", params={"since": now - 600}).json()
    store.close()
    assert fc["history_resolution"] == "1h"
    assert fc["history_hours"] == len(hours)
    assert (nc["resolution"], nc["samples"]) == ("2s", 60)
    assert raw["resolution"] == "2s" and len(raw["samples"]) == 60
