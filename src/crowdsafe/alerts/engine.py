"""The alert engine: zone and line samples in, alert lifecycle events out.

Rules (thresholds in ``alerts/settings.py``):

* ``density``  — a zone's estimated density (persons/m²);
* ``los``      — a zone's level of service (A..F);
* ``rise``     — a zone's robust rate of rise (persons/m² per minute), only when the
  Mann-Kendall test says the rise is real;
* ``predictive`` — a zone whose trend reaches the critical density within the horizon:
  "Zone North Gate reaches 5 p/m² in about 6 min";
* ``flow``     — a line's flow (persons/m/min).

Behaviour every rule shares, and why:

* **persistence** — a level must hold ``hold_s`` before it opens or escalates an alert,
  so one noisy bucket does not page a steward;
* **hysteresis** — an alert resolves only after the value has stayed below
  ``clear_fraction`` × its lowest level for ``hold_s``, so a value hovering at a
  threshold does not open and close alerts over and over;
* **escalation** — advisory → warning → critical on the same alert; alerts never
  de-escalate on their own (operators see the worst level reached until it resolves);
* **deduplication** — at most one active (open or acknowledged) alert per rule and
  subject; it is updated, not repeated.  Active alerts are reloaded from the store on
  start, so a restart does not re-open what operators already acknowledged;
* **lifecycle** — open → acknowledged (an operator) → resolved (automatically when the
  condition clears, or by an operator).  An acknowledged alert that escalates is open
  again: the new level must be seen.

The engine does no network I/O: events go to ``on_event`` callbacks (the sinks queue them
and return at once) and alerts to the store.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from crowdsafe.alerts.reading import Levels, Reading, measured_values, zone_reading
from crowdsafe.alerts.settings import AlertsConfig, LevelsConfig
from crowdsafe.alerts.trend import Trend
from crowdsafe.alerts.window import TrendWindow, phase_of
from crowdsafe.errors import AlertNotFound, AlertStateError
from crowdsafe.store.base import Store
from crowdsafe.types import (
    Alert,
    AlertEvent,
    AlertEventKind,
    AlertLevel,
    AlertRule,
    AlertState,
    LevelOfService,
    LineSample,
    SubjectKind,
    ZoneSample,
)

__all__ = ["AlertEngine", "AlertNotFound", "AlertStateError"]

log = logging.getLogger(__name__)

EventSink = Callable[[AlertEvent], None]
# by value; a member, a str equal to its value, finds its rank without the enum's slow
# .value property (read for every sample of a city)
_LOS_RANK = {level.value: i for i, level in enumerate(LevelOfService)}
_RISE_WINDOW_S = 120.0
_PREDICTIVE_LEVELS: Levels = [("warning", 1e-9)]


@dataclass
class _RuleState:
    since: dict[str, float] = field(default_factory=dict)  # level -> held since
    clear_since: float | None = None
    alert: Alert | None = None


@dataclass(kw_only=True)
class _ZoneRules:
    """What the zone rules need of one zone, worked out at its first sample (the config
    does not change while the engine runs), its trend window and its last trends."""

    name: str
    density: LevelsConfig
    thresholds: Levels
    clear_below: float
    trends: TrendWindow
    rise: Trend | None = None
    predictive: Trend | None = None


class AlertEngine:
    """Evaluates rules on each sample; thread-safe (pipeline and API threads call it)."""

    def __init__(
        self,
        config: AlertsConfig,
        store: Store,
        *,
        names: dict[str, str] | None = None,
        zone_levels: dict[str, LevelsConfig] | None = None,
        line_levels: dict[str, LevelsConfig] | None = None,
        on_event: Sequence[EventSink] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.names = names or {}
        self.zone_levels = zone_levels or {}
        self.line_levels = line_levels or {}
        self.on_event = list(on_event)
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[tuple[AlertRule, str], _RuleState] = {}
        self._zones: dict[str, _ZoneRules] = {}
        self._los_levels: Levels = [
            (lvl, float(_LOS_RANK[letter]))
            for lvl, letter in (
                ("advisory", config.los.advisory),
                ("warning", config.los.warning),
                ("critical", config.los.critical),
            )
            if letter is not None
        ]
        self._rise_levels: Levels = config.rise_per_m2_min.thresholds()
        self._measured_levels: dict[AlertRule, Levels] = {
            AlertRule.CLEAR: config.time_to_clear_min.thresholds(),
            AlertRule.PRESSURE: config.pressure_per_s2.thresholds(),
            AlertRule.SLOW: config.slow_for_density.thresholds(),
        }
        for alert in store.alerts([AlertState.OPEN, AlertState.ACKNOWLEDGED]):
            self._states[(alert.rule, alert.subject_id)] = _RuleState(alert=alert)

    # -- inputs --------------------------------------------------------------------------
    def observe_zone(self, sample: ZoneSample) -> list[AlertEvent]:
        """Judge a zone sample against the zone rules; returns (and emits) events."""
        with self._lock:
            readings = self._zone_readings(sample)
            events = [e for r in readings for e in self._judge(r)]
        self._emit(events)
        return events

    def observe_line(self, sample: LineSample) -> list[AlertEvent]:
        """Judge a line's flow sample; returns (and emits) events."""
        levels = self.line_levels.get(sample.line_id, self.config.flow_per_m_min)
        name = self.names.get(sample.line_id, sample.line_id)
        reading = Reading(
            rule=AlertRule.FLOW,
            kind=SubjectKind.LINE,
            subject_id=sample.line_id,
            subject_name=name,
            camera_id=sample.camera_id,
            t=sample.t,
            value=sample.flow_per_m_min,
            levels=levels.thresholds(),
            hold_s=levels.hold_s,
            clear_below=levels.clear_fraction * min((v for _, v in levels.thresholds()), default=0),
            describe=lambda lvl, v, thr: (
                f"Line {name}: {v:.0f} persons/m/min ({lvl} at {thr:g}"
                + (", the Green Guide maximum" if thr == 82 else "")
                + ")"
            ),
        )
        with self._lock:
            events = self._judge(reading)
        self._emit(events)
        return events

    # -- operator actions ----------------------------------------------------------------
    def acknowledge(self, alert_id: str) -> Alert:
        return self._transition(alert_id, AlertState.ACKNOWLEDGED)

    def resolve(self, alert_id: str) -> Alert:
        return self._transition(alert_id, AlertState.RESOLVED)

    def _transition(self, alert_id: str, state: AlertState) -> Alert:
        with self._lock:
            alert = self.store.get_alert(alert_id)
            if alert is None:
                raise AlertNotFound(f"no alert with id '{alert_id}'")
            if alert.state is AlertState.RESOLVED:
                raise AlertStateError(f"alert '{alert_id}' is already resolved")
            if alert.state is state:
                return alert  # acknowledging twice is harmless
            now = self._clock()
            if state is AlertState.ACKNOWLEDGED:
                alert = replace(alert, state=state, acknowledged_at=now, updated_at=now)
            else:
                alert = replace(alert, state=state, resolved_at=now, updated_at=now)
            self.store.save_alert(alert)
            key = (alert.rule, alert.subject_id)
            rule_state = self._states.get(key)
            if rule_state is not None:
                rule_state.alert = None if state is AlertState.RESOLVED else alert
                if state is AlertState.RESOLVED:
                    rule_state.since.clear()  # must build up again before it reopens
            event = AlertEvent(AlertEventKind(state.value), alert)
        self._emit([event])
        return alert

    # -- state kept elsewhere (a fleet: the store is shared) ---------------------------
    def adopt(self, alert: Alert) -> bool:
        """Take ``alert`` as stored (an operator acknowledged or resolved it through
        another process) as this engine's view of its rule and subject, without saving
        it again or emitting an event: the process that made the change did both.
        Returns whether the engine's view changed.  An alert older than the one the
        engine holds for that rule and subject is ignored."""
        with self._lock:
            st = self._states.setdefault((alert.rule, alert.subject_id), _RuleState())
            held = st.alert
            if held is not None and held.id != alert.id and held.opened_at > alert.opened_at:
                return False
            if held is not None and held.id == alert.id and held.state is alert.state:
                return False
            if alert.state is AlertState.RESOLVED:
                if held is None or held.id != alert.id:
                    return False
                st.alert = None
                st.since.clear()  # must build up again before it reopens
                st.clear_since = None
            else:
                # the level and value the engine reached stay its own; the state is theirs
                st.alert = (
                    alert
                    if held is None or held.id != alert.id
                    else replace(
                        held,
                        state=alert.state,
                        acknowledged_at=alert.acknowledged_at,
                        updated_at=max(held.updated_at, alert.updated_at),
                    )
                )
            return True

    def active_alerts(self) -> list[Alert]:
        """The open and acknowledged alerts as this engine holds them."""
        with self._lock:
            return [st.alert for st in self._states.values() if st.alert is not None]

    # -- rules ---------------------------------------------------------------------------
    def _zone_rules(self, zone_id: str) -> _ZoneRules:
        z = self._zones.get(zone_id)
        if z is None:
            cfg = self.config
            density = self.zone_levels.get(zone_id, cfg.density_per_m2)
            thresholds = density.thresholds()
            keep_s = max(cfg.predictive.window_s, _RISE_WINDOW_S)
            z = self._zones[zone_id] = _ZoneRules(
                name=self.names.get(zone_id, zone_id),
                density=density,
                thresholds=thresholds,
                clear_below=density.clear_fraction * min((v for _, v in thresholds), default=0),
                trends=TrendWindow(keep_s, phase_s=phase_of(zone_id)),
            )
        return z

    def _quiet(self, rule: AlertRule, subject_id: str, value: float, levels: Levels) -> bool:
        """Whether judging ``value`` could change nothing: below every level, with no
        alert and no level building up.  Most zones are quiet most of the time, and a
        city's worth of readings not built is much of the engine's cost."""
        if levels and value >= levels[0][1]:
            return False
        st = self._states.get((rule, subject_id))
        if st is None:
            return True
        if st.alert is None and not st.since:
            st.clear_since = None  # as judging would
            return True
        return False

    def _zone_readings(self, s: ZoneSample) -> list[Reading]:
        z = self._zone_rules(s.zone_id)
        name = z.name
        cfg = self.config
        out = []
        if not self._quiet(AlertRule.DENSITY, s.zone_id, s.density_per_m2, z.thresholds):
            out.append(
                zone_reading(
                    s,
                    name,
                    rule=AlertRule.DENSITY,
                    value=s.density_per_m2,
                    levels=z.thresholds,
                    hold_s=z.density.hold_s,
                    clear_below=z.clear_below,
                    describe=lambda lvl, v, thr: (
                        f"Zone {name}: {v:.1f} persons/m² ({lvl} at {thr:g} persons/m²)"
                    ),
                )
            )
        los = float(_LOS_RANK[s.los])
        if self._los_levels and not self._quiet(AlertRule.LOS, s.zone_id, los, self._los_levels):
            out.append(
                zone_reading(
                    s,
                    name,
                    rule=AlertRule.LOS,
                    value=los,
                    levels=self._los_levels,
                    hold_s=cfg.los.hold_s,
                    clear_below=self._los_levels[0][1],
                    describe=lambda lvl, v, thr: (
                        f"Zone {name}: level of service {'ABCDEF'[int(v)]} "
                        f"({lvl} at {'ABCDEF'[int(thr)]})"
                    ),
                )
            )
        out += self._measured_readings(s, name)
        if z.trends.add(s.t, s.density_per_m2):
            self._refit(z, s.t)
        out += self._trend_readings(s, z)
        return out

    def _measured_readings(self, s: ZoneSample, name: str) -> list[Reading]:
        """The rules on what a sample may carry (None: not measured): its time to clear
        through its exits, its crowd pressure (``alerts/reading.py``)."""
        if s.time_to_clear_min is None and s.pressure_per_s2 is None and s.fd_speed_ratio is None:
            return []  # most zones of a city: no exit declared, no one moving
        out = []
        for rule, value, settings, describe in measured_values(s, name, self.config):
            levels = self._measured_levels[rule]
            if value is None or not levels or self._quiet(rule, s.zone_id, value, levels):
                continue
            out.append(
                zone_reading(
                    s,
                    name,
                    rule=rule,
                    value=value,
                    levels=levels,
                    hold_s=settings.hold_s,
                    clear_below=settings.clear_fraction * levels[0][1],
                    describe=describe,
                )
            )
        return out

    def _refit(self, z: _ZoneRules, now: float) -> None:
        """Fit the zone's trends again: a bin of its window has closed (``window.py``)."""
        pred = self.config.predictive
        windows = []
        if self._rise_levels:
            windows.append(_RISE_WINDOW_S)
        if pred.enabled and z.density.critical is not None:
            windows.append(pred.window_s)
        fits = z.trends.trends(now, windows, pred.min_samples, pred.min_z)
        z.rise = fits.pop(0) if self._rise_levels else None
        z.predictive = fits.pop(0) if fits else None

    def _trend_readings(self, s: ZoneSample, z: _ZoneRules) -> list[Reading]:
        cfg = self.config
        name = z.name
        out: list[Reading] = []
        # persons/m² per minute, while the rise is significant (Mann-Kendall)
        rate = 0.0 if z.rise is None else z.rise.slope_per_s * 60.0
        rthr = self._rise_levels
        if rthr and not self._quiet(AlertRule.RISE, s.zone_id, rate, rthr):
            out.append(
                zone_reading(
                    s,
                    name,
                    rule=AlertRule.RISE,
                    value=rate,
                    levels=rthr,
                    hold_s=cfg.rise_per_m2_min.hold_s,
                    clear_below=cfg.rise_per_m2_min.clear_fraction * rthr[0][1],
                    describe=lambda lvl, v, thr: (
                        f"Zone {name}: density rising {v:.2f} persons/m² per minute "
                        f"({lvl} at {thr:g})"
                    ),
                )
            )
        pred = cfg.predictive
        critical = z.density.critical
        if not pred.enabled or critical is None:
            return out
        trend = z.predictive
        urgency = 0.0  # 1 when the critical level is due now, 0 when beyond the horizon
        eta = None
        if trend is not None and trend.level_now < critical:
            # the trend line carried on from its last bin to this sample
            level = trend.level_now + trend.slope_per_s * (s.t - trend.t_now)
            eta = max(0.0, (critical - level) / trend.slope_per_s)
            if eta <= pred.horizon_s:
                urgency = 1.0 - eta / pred.horizon_s
        # > 0 means "projected to reach the critical density within the horizon"
        value = urgency if eta is None or eta > 0 else 1.0
        if self._quiet(AlertRule.PREDICTIVE, s.zone_id, value, _PREDICTIVE_LEVELS):
            return out
        eta_txt = "" if eta is None else f"{max(1, round(eta / 60))} min"

        def describe(level: str, value: float, threshold: float) -> str:
            return f"Zone {name} reaches {critical:g} persons/m² in about {eta_txt}"

        out.append(
            zone_reading(
                s,
                name,
                rule=AlertRule.PREDICTIVE,
                value=value,
                levels=_PREDICTIVE_LEVELS,
                hold_s=min(cfg.density_per_m2.hold_s, 10.0),
                clear_below=1e-9,
                describe=describe,
            )
        )
        return out

    def _judge(self, r: Reading) -> list[AlertEvent]:
        key = (r.rule, r.subject_id)
        st = self._states.setdefault(key, _RuleState())
        # how long has each level been met, continuously?
        for name, thr in r.levels:
            if r.value >= thr:
                st.since.setdefault(name, r.t)
            else:
                st.since.pop(name, None)
        held = [
            (name, thr)
            for name, thr in r.levels
            if name in st.since and r.t - st.since[name] >= r.hold_s
        ]
        events: list[AlertEvent] = []
        now = self._clock()
        alert = st.alert
        if alert is None:
            st.clear_since = None
            if held:
                name, thr = held[-1]
                alert = Alert(
                    id=uuid.uuid4().hex,
                    rule=r.rule,
                    subject_kind=r.kind,
                    subject_id=r.subject_id,
                    camera_id=r.camera_id,
                    level=AlertLevel(name),
                    state=AlertState.OPEN,
                    message=r.describe(name, r.value, thr),
                    value=r.value,
                    threshold=thr,
                    opened_at=now,
                    updated_at=now,
                )
                events.append(AlertEvent(AlertEventKind.OPENED, alert))
        else:
            if held and AlertLevel(held[-1][0]).rank > alert.level.rank:
                name, thr = held[-1]
                alert = replace(
                    alert,
                    level=AlertLevel(name),
                    state=AlertState.OPEN,
                    message=r.describe(name, r.value, thr),
                    value=r.value,
                    threshold=thr,
                    updated_at=now,
                )
                events.append(AlertEvent(AlertEventKind.ESCALATED, alert))
            elif r.value < r.clear_below:
                st.clear_since = r.t if st.clear_since is None else st.clear_since
                if r.t - st.clear_since >= r.hold_s:
                    alert = replace(
                        alert,
                        state=AlertState.RESOLVED,
                        resolved_at=now,
                        updated_at=now,
                        value=r.value,
                    )
                    events.append(AlertEvent(AlertEventKind.RESOLVED, alert))
            else:
                st.clear_since = None
                # keep the alert current: its value, and for a predictive alert the time
                # left; a threshold alert keeps the message of its worst moment
                message = alert.message
                if r.rule is AlertRule.PREDICTIVE:
                    message = r.describe(alert.level.value, r.value, alert.threshold)
                alert = replace(alert, value=r.value, message=message, updated_at=now)
        if alert is not st.alert:
            if alert is not None:
                self.store.save_alert(alert)
            st.alert = None if alert is None or alert.state is AlertState.RESOLVED else alert
            if alert is not None and alert.state is AlertState.RESOLVED:
                st.clear_since = None
        return events

    def _emit(self, events: list[AlertEvent]) -> None:
        for event in events:
            log.info("alert %s: %s", event.kind, event.alert.message)
            for sink in self.on_event:
                try:
                    sink(event)
                except Exception:  # a broken sink must not stop alerting
                    log.exception("alert sink failed on %s", event.kind)
