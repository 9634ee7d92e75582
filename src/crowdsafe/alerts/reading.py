"""What one alert rule reads of one sample (``alerts/engine.py`` judges it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crowdsafe.types import AlertRule, SubjectKind, ZoneSample

if TYPE_CHECKING:
    from crowdsafe.alerts.settings import AlertsConfig, LevelsConfig

__all__ = ["Describe", "Levels", "Reading", "measured_values", "zone_reading"]

Levels = list[tuple[str, float]]
"""(level name, threshold) pairs, lowest first."""
Describe = Callable[[str, float, float], str]
"""Words an alert from (level, value, threshold)."""


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One rule's view of one sample: the value and the levels it is judged against.

    ``levels`` are (level name, threshold) pairs, lowest first; ``value`` must stay
    ``>= threshold`` for ``hold_s`` seconds to reach a level, and below ``clear_below``
    for as long to resolve.  ``describe(level, value, threshold)`` words the alert.
    """

    rule: AlertRule
    kind: SubjectKind
    subject_id: str
    subject_name: str
    camera_id: str
    t: float
    value: float
    levels: Levels
    hold_s: float
    clear_below: float
    describe: Callable[[str, float, float], str]


def zone_reading(
    s: ZoneSample,
    name: str,
    *,
    rule: AlertRule,
    value: float,
    levels: Levels,
    hold_s: float,
    clear_below: float,
    describe: Callable[[str, float, float], str],
) -> Reading:
    """A zone rule's reading of ``s`` (zone ``name``): the subject from the sample."""
    return Reading(
        rule=rule,
        kind=SubjectKind.ZONE,
        subject_id=s.zone_id,
        subject_name=name,
        camera_id=s.camera_id,
        t=s.t,
        value=value,
        levels=levels,
        hold_s=hold_s,
        clear_below=clear_below,
        describe=describe,
    )


def measured_values(
    s: ZoneSample, name: str, config: AlertsConfig
) -> list[tuple[AlertRule, float | None, LevelsConfig, Describe]]:
    """The zone rules on values a sample carries when they were measured (None when not):
    each rule, its value, its settings and how its alert is worded."""
    return [
        (
            AlertRule.CLEAR,
            s.time_to_clear_min,
            config.time_to_clear_min,
            lambda lvl, v, thr: (
                f"Zone {name}: {v:.1f} min to clear through its exits ({lvl} at {thr:g} min)"
            ),
        ),
        (
            AlertRule.PRESSURE,
            s.pressure_per_s2,
            config.pressure_per_s2,
            lambda lvl, v, thr: (
                f"Zone {name}: crowd pressure {v:.3f}/s² ({lvl} at {thr:g}; "
                "turbulence from about 0.02)"
            ),
        ),
        (
            AlertRule.SLOW,
            None if s.fd_speed_ratio is None else max(0.0, 1.0 - s.fd_speed_ratio),
            config.slow_for_density,
            lambda lvl, v, thr: (
                f"Zone {name}: moving at {100 * (1 - v):.0f} % of the speed its density "
                f"explains ({lvl} below {100 * (1 - thr):.0f} %)"
            ),
        ),
    ]
