"""Stored hourly counts as the series the forecast fits: hours of the site's local clock.

The store keeps hours as UTC instants, but a site's week repeats on its wall clock (the
Saturday 14:00 peak stays at 14:00 across a daylight-saving change), so the planning
forecast reads history, and forecasts, on local wall-clock hours.  Two UTC hours that
share a local hour (the autumn change) are averaged into it; the spring hour that does
not exist locally is simply absent, and the forecast fills it like any other short gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["hourly_local"]


def hourly_local(hours: Sequence[tuple[float, float]], tz: ZoneInfo) -> pd.Series:
    """(UTC hour start, count) pairs as a series on local wall-clock hours.  At the
    autumn daylight-saving change two UTC hours share a local hour: they are averaged;
    the spring hour that does not exist locally is simply absent."""
    import pandas as pd

    idx = pd.DatetimeIndex(
        [datetime.fromtimestamp(t, UTC).astimezone(tz).replace(tzinfo=None) for t, _ in hours]
    )
    s = pd.Series([c for _, c in hours], index=idx, dtype=float)
    return s.groupby(s.index.floor("h")).mean()
