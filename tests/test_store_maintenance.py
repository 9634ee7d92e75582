"""The store's maintenance (``store/maintenance.py``) over SQLite and a real PostgreSQL:
rollups refreshed, retention removing exactly what it should, never a raw row that is
not yet rolled up; a failing round logged and retried; the retention settings checked.

The clock is the test's: each round is run at a chosen ``now``.
"""

from __future__ import annotations

import logging
import queue
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crowdsafe.api.metrics import render_metrics
from crowdsafe.config.storage import RetentionConfig
from crowdsafe.errors import StoreError
from crowdsafe.site import FakeSite
from crowdsafe.store.maintenance import MaintenanceLoop, MaintenanceStatus, StoreMaintenance
from crowdsafe.store.rollup import RollupMarks
from crowdsafe.store.sqlite import SQLiteStore
from tests.test_store_contract import BACKENDS, flow, fresh_database, sample

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
HOURS = 4
KEEP = RetentionConfig(samples_days=1.0, minutes_days=2.0, hours_days=3.0)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        opened: Any = SQLiteStore(tmp_path / "m.db")
    else:
        from crowdsafe.store.postgres import PostgresStore

        opened = PostgresStore(fresh_database(request.getfixturevalue("pg_cluster")))
    yield opened
    opened.close()


@dataclass
class LaggingRollups:
    """A real store whose refresh rolls up only to ``until`` whatever ``now`` is asked:
    rollups that are behind (a refresh that failed for a while)."""

    inner: Any
    until: float

    def refresh_rollups(self, now: float) -> RollupMarks:
        marks: RollupMarks = self.inner.refresh_rollups(min(now, self.until))
        return marks

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _fill(store: Any) -> None:
    """Zone samples every 10 s and line samples every minute for ``HOURS`` hours."""
    end = int(HOURS * 3600)
    store.write_samples([sample("z", T0 + s, count=float(s % 7)) for s in range(0, end, 10)])
    store.write_line_samples([flow("l", T0 + s) for s in range(0, end, 60)])


def test_retention_never_purges_raw_rows_above_the_minute_watermark(store: Any) -> None:
    _fill(store)
    behind = LaggingRollups(store, until=T0 + 2 * 3600 + 45)
    done = StoreMaintenance(behind, KEEP).run_once(T0 + 2 * DAY)
    # the age horizon (T0 + 1 day) is above every sample, the watermark is not
    assert done.minute_until == T0 + 2 * 3600
    kept = store.series("z", limit=10**6)
    assert [s.t for s in kept] == [T0 + s for s in range(2 * 3600, HOURS * 3600, 10)]
    lines = store.line_series("l", limit=10**6)
    assert [s.t for s in lines] == [T0 + s for s in range(2 * 3600, HOURS * 3600, 60)]
    assert done.samples_purged == 2 * 360 + 2 * 60
    # nothing of the rollups was old enough, and the hours were kept whole
    assert (done.minutes_purged, done.hours_purged) == (0, 0)
    assert len(store.rollups("z", 60, limit=10**6)) == HOURS * 60
    assert [r.samples for r in store.rollups("z", 3600)] == [360] * HOURS


def test_each_resolution_goes_at_its_own_age(store: Any) -> None:
    _fill(store)
    maintenance = StoreMaintenance(store, KEEP)
    # 1.5 days on: every sample rolled up and past a day old: the raw rows go
    done = maintenance.run_once(T0 + 1.5 * DAY)
    assert done.samples_purged == HOURS * (360 + 60) and done.minutes_purged == 0
    assert store.series("z") == [] and store.line_series("l") == []
    minutes = store.rollups("z", 60, limit=10**6)
    assert len(minutes) == HOURS * 60 and all(m.samples == 6 for m in minutes)
    assert maintenance.status == MaintenanceStatus(
        T0 + 1.5 * DAY, done.minute_until, done.hour_until, None
    )
    # 2.5 days on: the minutes go, the hours stay (rolled up before the minutes went)
    done = maintenance.run_once(T0 + 2.5 * DAY)
    assert (done.samples_purged, done.minutes_purged, done.hours_purged) == (0, HOURS * 60, 0)
    assert store.rollups("z", 60) == []
    hours = store.rollups("z", 3600)
    assert [h.samples for h in hours] == [360] * HOURS
    assert hours[0].count_mean == pytest.approx(sum(s % 7 for s in range(0, 3600, 10)) / 360)
    # 3.5 days on: the hours go too
    done = maintenance.run_once(T0 + 3.5 * DAY)
    assert done.hours_purged == HOURS and store.rollups("z", 3600) == []


def test_nothing_rolled_up_means_nothing_purged(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    try:
        _fill(store)
        never = LaggingRollups(store, until=T0)  # no complete minute before T0
        done = StoreMaintenance(never, KEEP).run_once(T0 + 10 * DAY)
        assert done.minute_until is None and done.purged == 0
        assert len(store.series("z", limit=10**6)) == HOURS * 360
    finally:
        store.close()


@dataclass
class FailingFirst:
    """A real store whose first ``failures`` refreshes fail as a database outage would."""

    inner: Any
    failures: int

    def refresh_rollups(self, now: float) -> RollupMarks:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("cannot roll up database: server closed the connection")
        marks: RollupMarks = self.inner.refresh_rollups(now)
        return marks

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_failed_round_is_logged_and_retried_and_stop_ends_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="crowdsafe.store.maintenance")
    store = SQLiteStore(tmp_path / "m.db")
    _fill(store)
    rounds: queue.Queue[MaintenanceStatus] = queue.Queue()
    loop = MaintenanceLoop(
        FailingFirst(store, failures=1),
        KEEP,
        interval_s=0.01,
        clock=lambda: T0 + 1.5 * DAY,
        on_round=rounds.put,
    )
    loop.start()
    try:
        failed = rounds.get(timeout=60)
        done = rounds.get(timeout=60)
    finally:
        loop.stop()
        store.close()
    assert failed.last_run_at is None and "server closed" in (failed.last_error or "")
    assert done.last_error is None and done.last_run_at == T0 + 1.5 * DAY
    assert done.minute_until is not None
    assert not loop.running
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("store maintenance failed" in r.getMessage() for r in warnings)
    assert any("removed 1680 raw samples" in r.getMessage() for r in caplog.records)


def test_metrics_show_the_rollup_lag(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    try:
        site = FakeSite(store, store_maintenance=MaintenanceStatus(T0, T0 - 120.0, T0, None))
        text = render_metrics(site).decode()
        lag = next(ln for ln in text.splitlines() if ln.startswith("crowdsafe_store_rollup_lag"))
        assert float(lag.split()[-1]) > 120.0  # now is long after T0
        assert "crowdsafe_store_maintenance_failing 0.0" in text
        site.store_maintenance = MaintenanceStatus(None, None, None, "down")
        text = render_metrics(site).decode()
        assert "crowdsafe_store_maintenance_failing 1.0" in text
        assert "crowdsafe_store_rollup_lag" not in text
        site.store_maintenance = None
        assert "crowdsafe_store_maintenance" not in render_metrics(site).decode()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"samples_days": 30, "minutes_days": 10}, "minutes_days (10 days) must be longer"),
        ({"minutes_days": 400, "hours_days": 400}, "hours_days (400 days) must be longer"),
        ({"samples_days": None}, "than retention.samples_days (null, forever)"),
        ({"samples_days": 0}, "greater than 0"),
        ({"hours_days": 10**6}, "less than or equal to 36500"),
        ({"weeks_days": 3}, "Extra inputs are not permitted"),
    ],
)
def test_retention_settings_are_checked(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        RetentionConfig(**settings)


def test_retention_defaults_and_forever() -> None:
    assert RetentionConfig() == RetentionConfig(
        samples_days=30.0, minutes_days=400.0, hours_days=None
    )
    assert RetentionConfig(samples_days=None, minutes_days=None).hours_days is None
