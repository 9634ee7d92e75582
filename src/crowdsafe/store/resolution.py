"""Which resolution a zone's series is read at: its raw buckets, or the 1-min or 1-h rollups.

The rule :func:`choose` carries, for ``resolution=auto``: the **finest** resolution that

1. draws the window in at most ``limit`` rows and at most a chart's worth of time
   (:data:`RAW_SPAN_MAX_S` for the raw buckets, :data:`MINUTE_SPAN_MAX_S` for the
   minutes: 3,600 and 10,080 rows at the default 1-s bucket), and
2. is still kept for the whole window (``storage.retention``): the raw samples and the
   minutes are purged long before the hours, and a window reaching back past a
   horizon would draw a chart whose left part is silently empty.

The hours are the last resort, kept longest: a window too long even for them is cut to
its newest ``limit`` rows, as every read is.  A window without ``since`` is the zone's
whole history: its span is measured from the oldest stored sample
(:func:`stored_start`).  An asked-for resolution is read as asked.

:func:`choose` is pure (the window, the clock and the horizons in, a :class:`Choice`
out); :func:`stored_start` and :func:`read_series` read through the
:class:`~crowdsafe.store.base.Store` protocol, so the series route holds no rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from crowdsafe.store.rollup import resolution_name
from crowdsafe.types import ZoneRollup, ZoneSample

if TYPE_CHECKING:
    from crowdsafe.store.base import Store

__all__ = [
    "MINUTE_SPAN_MAX_S",
    "RAW_SPAN_MAX_S",
    "Choice",
    "Kept",
    "Resolutions",
    "SeriesRead",
    "SeriesResolution",
    "choose",
    "read_series",
    "stored_start",
]

RAW_SPAN_MAX_S = 3600.0
"""The longest window auto reads at the raw bucket: an hour (3,600 rows at 1 s)."""

MINUTE_SPAN_MAX_S = 7 * 86400.0
"""The longest window auto reads at 1 min: a week (10,080 rows)."""

_DAY_S = 86400.0


class SeriesResolution(StrEnum):
    """What a series request asks for."""

    AUTO = "auto"
    """The finest that fits (the module docstring)."""
    RAW = "raw"
    """The stored buckets (``storage.bucket_s``)."""
    MINUTE = "1m"
    """The 1-min rollups."""
    HOUR = "1h"
    """The 1-h rollups."""


@dataclass(frozen=True)
class Kept:
    """How long each resolution is kept, days (``storage.retention``); None: not purged."""

    samples_days: float | None = None
    minutes_days: float | None = None
    hours_days: float | None = None


class _Storage(Protocol):
    """What :meth:`Resolutions.of` reads of the ``storage:`` section (a store never
    imports the config)."""

    @property
    def bucket_s(self) -> float: ...


@dataclass(frozen=True)
class Resolutions:
    """What a site's series can be read at: its raw bucket and how long each is kept."""

    bucket_s: float = 1.0
    kept: Kept = field(default_factory=Kept)

    @classmethod
    def of(cls, storage: _Storage) -> Resolutions:
        """From the ``storage:`` section; without ``storage.retention`` (or one of its
        horizons) that resolution is taken as kept for ever."""
        retention = getattr(storage, "retention", None)
        return cls(
            bucket_s=storage.bucket_s,
            kept=Kept(
                samples_days=getattr(retention, "samples_days", None),
                minutes_days=getattr(retention, "minutes_days", None),
                hours_days=getattr(retention, "hours_days", None),
            ),
        )


@dataclass(frozen=True)
class Choice:
    """The resolution a series is read at, and why."""

    resolution: SeriesResolution
    """RAW, MINUTE or HOUR (never AUTO)."""
    period_s: float
    """Seconds per row: the raw bucket, 60 or 3600."""
    reason: str

    @property
    def name(self) -> str:
        """What the API says it read: ``1s`` (the raw bucket), ``1m`` or ``1h``."""
        return resolution_name(self.period_s)


def _fmt(seconds: float) -> str:
    if seconds >= _DAY_S:
        return f"{seconds / _DAY_S:g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def choose(
    asked: SeriesResolution,
    *,
    start: float | None,
    until: float | None,
    now: float,
    limit: int,
    resolutions: Resolutions | None = None,
) -> Choice:
    """The resolution to read a window at (module docstring).

    ``start`` is the window's start: ``since``, or the oldest stored sample when the
    request has none; None when it has none and nothing is stored.  ``until`` (None:
    now) is clamped to ``now``, since nothing is stored after it.  Times are Unix
    seconds; ``limit`` the most rows the request takes."""
    res = resolutions or Resolutions()
    periods = {
        SeriesResolution.RAW: res.bucket_s,
        SeriesResolution.MINUTE: 60.0,
        SeriesResolution.HOUR: 3600.0,
    }
    if asked is not SeriesResolution.AUTO:
        return Choice(asked, periods[asked], "asked for")
    if start is None:
        return Choice(SeriesResolution.RAW, res.bucket_s, "nothing stored")
    end = now if until is None else min(until, now)
    span = max(0.0, end - start)
    kept = res.kept
    candidates = (
        (SeriesResolution.RAW, RAW_SPAN_MAX_S, kept.samples_days, "raw samples"),
        (SeriesResolution.MINUTE, MINUTE_SPAN_MAX_S, kept.minutes_days, "minutes"),
    )
    skipped = []
    for resolution, span_max_s, days, what in candidates:
        period = periods[resolution]
        rows = math.ceil(span / period)
        if days is not None and start < now - days * _DAY_S:
            skipped.append(f"{what} are kept {days:g} d")
        elif span > span_max_s:
            skipped.append(f"over {_fmt(span_max_s)} at {resolution_name(period)}")
        elif rows > limit:
            skipped.append(f"{rows} rows at {resolution_name(period)} over limit {limit}")
        else:
            why = f" ({'; '.join(skipped)})" if skipped else ""
            return Choice(resolution, period, f"{_fmt(span)} window: {rows} rows{why}")
    return Choice(SeriesResolution.HOUR, 3600.0, f"{_fmt(span)} window: " + "; ".join(skipped))


_HOURS_LOOKED = math.ceil(MINUTE_SPAN_MAX_S / 3600) + 1
"""Hours :func:`stored_start` reads back: one more than the longest 1-min window."""


def stored_start(store: Store, zone_id: str, until: float | None) -> float | None:
    """Where a zone's history before ``until`` (None: all) starts, to the minute (never
    after its oldest sample); None when it has none.  Reads at most a week of hours and
    one hour of minutes: a history longer than that is read at 1 h whatever its start."""
    hours = store.rollups(zone_id, 3600, until=until, limit=_HOURS_LOOKED)
    if not hours:
        return None
    first = hours[0].t
    if len(hours) == _HOURS_LOOKED:
        return first
    minutes = store.rollups(zone_id, 60, since=first, until=first + 3600, limit=60)
    return minutes[0].t if minutes else first


@dataclass(frozen=True)
class SeriesRead:
    """A window of a zone's series at the resolution chosen: ``samples`` at the raw
    bucket, else ``rollups``."""

    choice: Choice
    samples: list[ZoneSample]
    rollups: list[ZoneRollup]


def read_series(
    store: Store,
    zone_id: str,
    asked: SeriesResolution,
    *,
    since: float | None,
    until: float | None,
    limit: int,
    now: float,
    resolutions: Resolutions | None = None,
) -> SeriesRead:
    """Choose the resolution of ``[since, until)`` (:func:`choose`) and read it: the
    newest ``limit`` rows, oldest first."""
    start = since
    if start is None and asked is SeriesResolution.AUTO:
        start = stored_start(store, zone_id, until)
    choice = choose(asked, start=start, until=until, now=now, limit=limit, resolutions=resolutions)
    if choice.resolution is SeriesResolution.RAW:
        return SeriesRead(choice, store.series(zone_id, since, until, limit), [])
    period = int(choice.period_s)
    return SeriesRead(choice, [], store.rollups(zone_id, period, since, until, limit))
