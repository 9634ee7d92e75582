"""What one alert rule reads of one sample (``alerts/engine.py`` judges it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crowdsafe.types import AlertRule, SubjectKind, ZoneSample

__all__ = ["Levels", "Reading", "zone_reading"]

Levels = list[tuple[str, float]]
"""(level name, threshold) pairs, lowest first."""


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
