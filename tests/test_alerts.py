"""The alert engine on scripted zone and line series, with a clock we control."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from crowdsafe.alerts.engine import AlertEngine, AlertNotFound, AlertStateError
from crowdsafe.alerts.settings import AlertsConfig, LevelsConfig
from crowdsafe.alerts.trend import fit_small, fit_trend, mann_kendall_z, theil_sen
from crowdsafe.measure.los import flow_los, space_los
from crowdsafe.store import SQLiteStore
from crowdsafe.types import AlertEvent, AlertLevel, AlertState, LineSample, ZoneSample

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def zone(t: float, density: float, zone_id: str = "north") -> ZoneSample:
    return ZoneSample(
        camera_id="cam1",
        zone_id=zone_id,
        t=t,
        count=density * 20,
        count_max=int(density * 20),
        area_m2=20.0,
        density_per_m2=density,
        los=space_los(density, (1.2, 0.9, 0.6, 0.3, 0.2)),  # queue table: F only at 5 p/m²
        frames=10,
    )


def engine(
    config: AlertsConfig | None = None, store: SQLiteStore | None = None
) -> tuple[AlertEngine, list[AlertEvent], Clock, SQLiteStore]:
    clock = Clock()
    events: list[AlertEvent] = []
    store = store or SQLiteStore(":memory:")
    eng = AlertEngine(
        config or AlertsConfig(),
        store,
        names={"north": "North Gate", "exit-a": "Exit A"},
        on_event=[events.append],
        clock=clock,
    )
    return eng, events, clock, store


def feed(eng: AlertEngine, clock: Clock, start_s: float, values: Iterable[float]) -> float:
    """One sample per second from ``start_s``; returns the next second."""
    t = start_s
    for v in values:
        clock.now = T0 + t
        eng.observe_zone(zone(T0 + t, v))
        t += 1.0
    return t


def kinds(events: list[AlertEvent], rule: str = "density") -> list[tuple[str, str]]:
    return [(e.kind, e.alert.level.value) for e in events if e.alert.rule == rule]


def test_persistence_a_short_spike_opens_nothing() -> None:
    eng, events, clock, _ = engine()
    t = feed(eng, clock, 0, [1.0] * 5 + [5.5] * 9 + [1.0] * 20)  # 9 s above critical
    assert kinds(events) == []
    feed(eng, clock, t, [5.5] * 12)
    assert kinds(events) == [("opened", "critical")]  # every level held 10 s: opens at the top


def test_hysteresis_no_flapping_around_the_threshold() -> None:
    eng, events, clock, _ = engine()
    t = feed(eng, clock, 0, [2.2] * 12)
    assert kinds(events) == [("opened", "advisory")]
    # hovering around the 2.0 advisory level but above its clear level (0.8 x 2 = 1.6)
    t = feed(eng, clock, t, [1.7, 2.1, 1.8, 1.9, 2.05, 1.65] * 10)
    assert kinds(events) == [("opened", "advisory")]
    t = feed(eng, clock, t, [1.2] * 9)  # below the clear level, but not for long enough
    assert len(kinds(events)) == 1
    t = feed(eng, clock, t, [1.2] * 3)
    assert kinds(events) == [("opened", "advisory"), ("resolved", "advisory")]
    feed(eng, clock, t, [2.5] * 11)
    opened = [e.alert.id for e in events if e.kind == "opened"]
    assert len(opened) == 2
    assert opened[0] != opened[1]


def test_escalation_keeps_one_alert_and_never_downgrades_itself() -> None:
    eng, events, clock, store = engine()
    t = feed(eng, clock, 0, [2.5] * 12 + [3.5] * 12 + [5.2] * 12 + [2.5] * 30)
    assert kinds(events) == [
        ("opened", "advisory"),
        ("escalated", "warning"),
        ("escalated", "critical"),
    ]
    assert len({e.alert.id for e in events if e.alert.rule == "density"}) == 1
    active = store.alerts([AlertState.OPEN])
    density = [a for a in active if a.rule == "density"]
    assert len(density) == 1
    assert density[0].level is AlertLevel.CRITICAL
    assert density[0].value == pytest.approx(2.5)  # the value is kept current
    assert "North Gate" in density[0].message
    assert "5.2 persons/m²" in density[0].message
    del t


def test_deduplication_one_alert_for_a_long_episode() -> None:
    eng, events, clock, store = engine()
    feed(eng, clock, 0, [3.2] * 300)
    assert kinds(events) == [("opened", "warning")]
    assert len(store.alerts()) == 1 + len([e for e in events if e.alert.rule != "density"])


def test_lifecycle_acknowledge_escalate_resolve() -> None:
    eng, events, clock, store = engine()
    t = feed(eng, clock, 0, [2.5] * 12)
    alert = next(e.alert for e in events if e.alert.rule == "density")
    acked = eng.acknowledge(alert.id)
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acknowledged_at == clock.now
    assert store.get_alert(alert.id) == acked
    assert eng.acknowledge(alert.id) == acked  # twice is harmless
    t = feed(eng, clock, t, [3.4] * 12)
    escalated = store.get_alert(alert.id)
    assert escalated is not None
    assert (escalated.state, escalated.level) == (AlertState.OPEN, AlertLevel.WARNING)
    resolved = eng.resolve(alert.id)
    assert resolved.state is AlertState.RESOLVED
    assert resolved.resolved_at is not None
    with pytest.raises(AlertStateError, match="already resolved"):
        eng.acknowledge(alert.id)
    with pytest.raises(AlertNotFound, match="no alert with id 'nope'"):
        eng.resolve("nope")
    assert [e.kind for e in events if e.alert.rule == "density"] == [
        "opened",
        "acknowledged",
        "escalated",
        "resolved",
    ]
    feed(eng, clock, t, [3.4] * 5)  # still high, but must build up again after a manual resolve
    assert len([e for e in events if e.kind == "opened" and e.alert.rule == "density"]) == 1


def test_a_restart_keeps_active_alerts_without_reopening(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SQLiteStore(tmp_path / "a.db")
    eng, _events, clock, _ = engine(store=store)
    t = feed(eng, clock, 0, [3.5] * 12)
    eng2, events2, clock2, _ = engine(store=store)
    feed(eng2, clock2, t, [3.5] * 30)
    assert kinds(events2) == []
    assert len([a for a in store.alerts() if a.rule == "density"]) == 1
    store.close()


def test_level_of_service_rule() -> None:
    eng, events, clock, _ = engine()
    feed(eng, clock, 0, [5.2] * 12)  # queue table: 0.19 m² per person is F
    assert ("opened", "warning") in kinds(events, "los")


def test_flow_rule_names_the_green_guide() -> None:
    eng, events, clock, _ = engine()
    for i in range(12):
        clock.now = T0 + i
        eng.observe_line(
            LineSample("cam1", "exit-a", T0 + i, 1.0, 50, 40, 1.1, 85.0, flow_los(85.0))
        )
    assert kinds(events, "flow") == [("opened", "critical")]
    assert "Exit A: 85 persons/m/min" in events[0].alert.message
    assert "Green Guide maximum" in events[0].alert.message


def test_zone_override_levels() -> None:
    clock = Clock()
    events: list[AlertEvent] = []
    eng = AlertEngine(
        AlertsConfig(),
        SQLiteStore(":memory:"),
        zone_levels={"north": LevelsConfig(warning=1.0, hold_s=0)},
        on_event=[events.append],
        clock=clock,
    )
    eng.observe_zone(zone(T0, 1.5))
    assert kinds(events) == [("opened", "warning")]


def test_predictive_alert_on_a_steady_build_up() -> None:
    eng, events, clock, _ = engine()
    rng = np.random.default_rng(1)
    # from 1 p/m² rising 0.5 per minute, with noise: 5 p/m² is reached at t = 480 s
    t = np.arange(0, 200)
    values = 1.0 + t * (0.5 / 60) + rng.normal(0, 0.1, t.size)
    feed(eng, clock, 0, values)
    predictive = [e for e in events if e.alert.rule == "predictive"]
    assert predictive, "a steady rise towards 5 p/m² must raise a predictive warning"
    first = predictive[0]
    assert first.kind == "opened"
    assert first.alert.level is AlertLevel.WARNING
    # it fires once 480 - t is under the 10 min horizon, with the time left in the message
    opened_at = first.alert.opened_at - T0
    assert opened_at >= 60  # not before a minute of history

    def minutes_in(message: str) -> int:
        return int(message.split("about ")[1].split(" min")[0])

    assert abs(minutes_in(first.alert.message) - (480 - opened_at) / 60) <= 1.0
    latest = eng.store.get_alert(first.alert.id)
    assert latest is not None
    assert latest.state is AlertState.OPEN
    assert abs(minutes_in(latest.message) - (480 - 199) / 60) <= 1.0  # kept up to date
    assert "North Gate reaches 5 persons/m²" in first.alert.message


@pytest.mark.parametrize("seed", range(10))
def test_noise_alone_raises_no_trend_alert(seed: int) -> None:
    eng, events, clock, _ = engine()
    rng = np.random.default_rng(seed)
    feed(eng, clock, 0, 1.5 + rng.normal(0, 0.3, 600).clip(-1.4, 0.45))  # never over 2
    assert [e for e in events if e.alert.rule in ("predictive", "rise")] == []


def test_a_fast_rise_raises_a_rate_of_rise_alert() -> None:
    eng, events, clock, _ = engine()
    t = np.arange(0, 120)
    feed(eng, clock, 0, 0.2 + t * (1.2 / 60))  # +1.2 p/m² per minute
    rise = kinds(events, "rise")
    assert rise
    assert rise[-1][1] == "warning"


def test_trend_estimators() -> None:
    t = np.arange(50, dtype=np.float64)
    y = 2.0 + 0.1 * t
    y[[5, 17, 33]] = [40.0, -30.0, 55.0]  # wild outliers
    slope, intercept = theil_sen(t, y)
    assert slope == pytest.approx(0.1, abs=0.005)
    assert intercept == pytest.approx(2.0, abs=0.1)
    assert mann_kendall_z(y) > 5
    assert abs(mann_kendall_z(np.random.default_rng(0).normal(size=200))) < 2.33
    trend = fit_trend(t, 2.0 + 0.1 * t)
    assert trend.seconds_to(10.0) == pytest.approx((10.0 - 6.9) / 0.1)
    assert fit_trend(t, 5.0 - 0.1 * t).seconds_to(10.0) is None
    with pytest.raises(ValueError, match="equal"):
        theil_sen(np.ones(5), np.arange(5.0))


@pytest.mark.parametrize("n", [3, 4, 12, 17, 18, 40])
def test_short_series_fit_as_the_numpy_estimators(n: int) -> None:
    """Short series are fitted in plain Python (trend.py): the same numbers as numpy's
    median of the pairwise slopes and sign sum, worked out here independently."""
    rng = np.random.default_rng(n)
    t = np.cumsum(rng.uniform(5.0, 15.0, size=n))
    y = 0.5 + 0.004 * t + rng.normal(scale=0.05, size=n)
    y[n // 2] = y[n // 3]  # a tie in y, which the sign must count as 0
    i, j = np.triu_indices(n, k=1)
    slope = float(np.median((y[j] - y[i]) / (t[j] - t[i])))
    s = float(np.sign(y[j] - y[i]).sum())
    sd = np.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    z = (s - np.sign(s)) / sd
    assert theil_sen(t, y) == (slope, float(np.median(y - slope * t)))
    assert mann_kendall_z(y) == pytest.approx(z, rel=1e-12, abs=0.0)
    small = fit_small(t.tolist(), y.tolist(), min_z=-99.0)
    assert small is not None
    assert (small.slope_per_s, small.samples) == (slope, n)
    assert small.z == pytest.approx(z, rel=1e-12)
    assert fit_small(t.tolist(), y.tolist(), min_z=z + 0.01) is None  # below min_z: no fit
    with pytest.raises(ValueError, match="3 to 40 points"):
        fit_small([1.0, 2.0], [1.0, 2.0], min_z=0.0)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"advisory": 3.0, "warning": 2.0}, "levels must increase"),
        ({"warning": 5.0, "critical": 5.0}, "levels must increase"),
    ],
)
def test_level_validation(levels: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LevelsConfig(**levels)  # type: ignore[arg-type]


def test_time_to_clear_rule_opens_at_the_green_guides_8_minutes_and_resolves() -> None:
    from dataclasses import replace

    eng, events, clock, _ = engine()

    def clear_min(t: float, minutes: float | None) -> None:
        clock.now = T0 + t
        eng.observe_zone(replace(zone(T0 + t, 1.0), time_to_clear_min=minutes))

    for i in range(40):
        clear_min(i, 5.0 if i < 5 else 9.0)  # 9 min from t = 5 s on, held 30 s
    assert kinds(events, "time_to_clear") == [("opened", "warning")]
    alert = events[-1].alert
    assert alert.subject_id == "north" and "9.0 min to clear" in alert.message
    for i in range(40, 80):
        clear_min(i, 3.0)  # under 0.8 x 6 min for 30 s: resolved
    assert kinds(events, "time_to_clear")[-1] == ("resolved", "warning")
    eng2, events2, clock2, _ = engine()
    for i in range(60):
        clock2.now = T0 + i
        eng2.observe_zone(replace(zone(T0 + i, 1.0), time_to_clear_min=None))  # no exits
    assert kinds(events2, "time_to_clear") == []
