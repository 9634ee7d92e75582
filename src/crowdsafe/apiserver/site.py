""":class:`FleetSite`: the :class:`~crowdsafe.site.Site` of an API server with no cameras.

What it serves, and from where:

* cameras, zones, lines and sites: the config (the same one the fleet's workers run);
* each camera's health: the fleet's registry (``apiserver/registry.py``): the node
  analysing it, how often it moved, its state and analysed fps as its worker last wrote
  them; a camera whose worker has not written for ``status_stale_s`` is shown stalled,
  so a dead node's cameras never look live;
* the live feed and each zone's latest sample: the workers' ``crowdsafe_samples``
  notifications (``store/notify.py``), after one load of every zone's latest sample
  each time the listening connection is made (``apiserver/latest.py``);
* series, rollups, alerts, forecasts: the shared store; an operator's acknowledge or
  resolve is stored and then told to the fleet (``apiserver/alerts.py``).

Pixels never reach it: a camera's live view and snapshots stay on the node analysing
it, and :meth:`FleetSite.anonymised_jpeg` raises PixelsElsewhere (the API's 409).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from crowdsafe.alerts.base import SinkHealth
from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.apiserver.alerts import FleetAlerts
from crowdsafe.apiserver.latest import load_latest
from crowdsafe.apiserver.registry import CameraStatusView, Registry, open_registry
from crowdsafe.assembly.layout import build_zones, counting_lines, site_groups
from crowdsafe.config import CameraConfig, CrowdsafeConfig, PostgresStorageConfig
from crowdsafe.errors import ConfigError, PixelsElsewhere, StoreError
from crowdsafe.feed import LiveFeed
from crowdsafe.forecast.service import ForecastService
from crowdsafe.gcpolicy import collect_young_less_often
from crowdsafe.ingest.health import HealthSnapshot, StreamState
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.site import CameraInfo, SiteGroup, fresh_for_s
from crowdsafe.store.maintenance import MaintenanceStatus
from crowdsafe.store.notify import (
    ALERT_EVENTS,
    ALERT_STATE,
    SAMPLE_COLUMNS,
    SAMPLES,
    ZONE_ID,
    Listener,
    read_alert_event,
    read_sample_rows,
    sample_of_row,
)
from crowdsafe.store.postgres import PostgresStore
from crowdsafe.store.resolution import Resolutions
from crowdsafe.types import AlertEvent, AlertEventKind, AlertState

__all__ = ["FleetSite", "FleetSiteOptions"]

log = logging.getLogger(__name__)

# What an operator's change of an alert's state is, as an event for the dashboards.
_OPERATOR_EVENTS = {
    AlertState.ACKNOWLEDGED: AlertEventKind.ACKNOWLEDGED,
    AlertState.RESOLVED: AlertEventKind.RESOLVED,
}


@dataclass(frozen=True)
class FleetSiteOptions:
    """``health_ttl_s``: how long one read of the registry serves (an 8,000-camera list
    asked for by many dashboards is one read a while); ``status_stale_s``: a camera whose
    worker wrote nothing for longer is shown stalled; ``latest_window_s``: how far back
    the start-up load looks for each zone's latest sample."""

    health_ttl_s: float = 5.0
    status_stale_s: float = 15.0
    latest_window_s: float = 600.0
    listen: bool = True


def postgres_section(config: CrowdsafeConfig) -> PostgresStorageConfig:
    """The config's ``storage:``, which a fleet needs to be PostgreSQL."""
    if not isinstance(config.storage, PostgresStorageConfig):
        raise ConfigError(
            f"storage.backend: a fleet's API server reads the shared store, which must be "
            f"postgresql (got '{config.storage.backend}')"
        )
    return config.storage


class FleetSite:
    """A site served from the shared store, the registry and the workers' notifications.

    Raises ConfigError when the config's store is not PostgreSQL, StoreError when it
    cannot be opened.  :meth:`start` begins listening; :meth:`close` ends everything."""

    def __init__(
        self,
        config: CrowdsafeConfig,
        *,
        registry: Registry | None = None,
        options: FleetSiteOptions | None = None,
    ) -> None:
        section = postgres_section(config)
        self.config = config
        self.options = options or FleetSiteOptions()
        self.dsn = section.dsn
        self.store = PostgresStore(
            section.dsn, pool_max=section.pool_max, connect_timeout_s=section.connect_timeout_s
        )
        try:
            self.registry = registry or open_registry(section.dsn)
        except BaseException:
            self.store.close()
            raise
        self.store_path = f"{self.store.where} (read only: this server runs no camera)"
        self.feed = LiveFeed()
        self._cameras: dict[str, CameraConfig] = {c.id: c for c in config.cameras}
        self._zones = [z for c in config.cameras for z in build_zones(c, config.thresholds)]
        self._lines = [ln for c in config.cameras for ln in counting_lines(c)]
        self._known_zones = {z.id for z in self._zones}
        bucket = config.storage.bucket_s
        # How old a zone's latest sample may be and still count as "now", by camera
        # (site.fresh_for_s, as a runtime judges its own).
        self._fresh_s = {c.id: fresh_for_s(bucket, c.source.stall_s) for c in config.cameras}
        self._groups = site_groups(config)
        self._site_of = {cid: g.id for g in self._groups for cid in g.camera_ids}
        self._lock = threading.Lock()
        self._health: tuple[float, list[CameraInfo], dict[str, StreamState]] = (
            float("-inf"),
            [],
            {},
        )
        engine = AlertEngine(config.alerts, self.store)
        self.alerts = FleetAlerts(engine, section.dsn)
        self.forecast = ForecastService(
            config.forecast, self.store, self._zones, bucket_s=section.bucket_s
        )
        self.listener = Listener(
            section.dsn,
            (SAMPLES, ALERT_STATE, ALERT_EVENTS),
            self._notified,
            on_connect=self._load_latest,
        )

    # -- the feed ------------------------------------------------------------------------

    def start(self) -> FleetSite:
        if self.options.listen:
            collect_young_less_often()  # the whole fleet's samples churn (gcpolicy.py)
            self.listener.start()
        return self

    def status_line(self) -> str:
        """One line for the terminal: cameras live, zones with fresh data, the feed."""
        infos, states = self._read_health()
        live = sum(s is StreamState.LIVE for s in states.values())
        fresh = sum(self.zone_has_data(z) for z in self._zones)
        feed = "listening" if self.listener.connected.is_set() else "reconnecting"
        return (
            f"serve: {live}/{len(infos)} cameras live, {fresh}/{len(self._zones)} zones "
            f"with data, feed {feed}, {self.feed.subscriber_count} live clients"
        )

    def _load_latest(self) -> None:
        """Every zone's latest sample into the feed: on each (re)connection, after LISTEN,
        so that nothing committed since is missed."""
        since = time.time() - self.options.latest_window_s
        samples = load_latest(self.dsn, sorted(self._known_zones), since)
        self.feed.publish(samples)
        log.info("loaded the latest samples of %d zones", len(samples))

    def _notified(self, channel: str, payload: str) -> None:
        if channel == SAMPLES:
            known = self._known_zones
            # tuples: a tuple of plain values leaves the garbage collector's lists at its
            # first pass, where 24,000 lists a second kept it sweeping the whole heap
            rows = [tuple(r) for r in read_sample_rows(payload) if r[ZONE_ID] in known]
            if rows:  # decoded only when read or sent (LiveFeed.publish_rows)
                self.feed.publish_rows(rows, SAMPLE_COLUMNS, sample_of_row)
        elif channel == ALERT_STATE:  # an operator's acknowledge or resolve
            alert = self.store.get_alert(payload)
            kind = _OPERATOR_EVENTS.get(alert.state) if alert is not None else None
            if alert is not None and kind is not None:
                self.feed.publish_alert(AlertEvent(kind, alert))
        elif channel == ALERT_EVENTS:  # what a worker's alert engine did
            try:
                event = read_alert_event(payload)
            except (ValueError, KeyError, TypeError):
                log.warning("an alert event that does not read: %.200s", payload)
                return
            if event.alert.camera_id in self._camera_ids:
                self.feed.publish_alert(event)

    @functools.cached_property
    def _camera_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.config.cameras)

    # -- the Site protocol ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.site

    @property
    def resolutions(self) -> Resolutions:
        return Resolutions.of(self.config.storage)

    @property
    def live_view_enabled(self) -> bool:
        return self.config.privacy.live_view

    @property
    def live_view_requests_max(self) -> int:
        return self.config.live_view_limits.max_requests

    @property
    def store_maintenance(self) -> MaintenanceStatus | None:
        return None  # the workers (or `crowdsafe db`) maintain the shared store

    def site_groups(self) -> list[SiteGroup]:
        return list(self._groups)

    def zones(self) -> list[Zone]:
        return list(self._zones)

    def lines(self) -> list[CountingLine]:
        return list(self._lines)

    def sink_health(self) -> list[SinkHealth]:
        return []  # alert sinks run on the workers

    def camera_infos(self) -> list[CameraInfo]:
        """Every camera's health from the registry, read at most every ``health_ttl_s``."""
        return list(self._read_health()[0])

    def _read_health(self) -> tuple[list[CameraInfo], dict[str, StreamState]]:
        now = time.time()
        with self._lock:
            at, infos, states = self._health
            if now - at < self.options.health_ttl_s:
                return infos, states
        try:
            placements = self.registry.placements()
            statuses = self.registry.statuses()
        except StoreError:
            log.warning("registry unreadable; cameras shown as not started")
            placements, statuses = {}, {}
        infos = []
        for cid, cam in self._cameras.items():
            placed = placements.get(cid)
            infos.append(
                CameraInfo(
                    id=cid,
                    name=cam.display_name,
                    zone_ids=[z.id for z in cam.zones],
                    health=self._snapshot(cam, statuses.get(cid), now),
                    site_id=self._site_of[cid],
                    node_id=placed.node_id if placed is not None else None,
                    moves=placed.moves if placed is not None else None,
                )
            )
        states = {c.id: c.health.state for c in infos}
        with self._lock:
            self._health = (now, infos, states)
        return infos, states

    def _snapshot(
        self, cam: CameraConfig, status: CameraStatusView | None, now: float
    ) -> HealthSnapshot:
        state, since = StreamState.STARTING, now
        error: str | None = "not yet placed on a worker"
        fps, since_frame_s = 0.0, None
        if status is not None:
            since = status.updated_at
            fps = status.analysed_fps
            since_frame_s = (
                None if status.last_frame_at is None else max(0.0, now - status.last_frame_at)
            )
            try:
                state, error = StreamState(status.state), None
            except ValueError:
                state, error = StreamState.FAILED, f"unknown state '{status.state}'"
            if now - status.updated_at > self.options.status_stale_s:
                state = StreamState.STALLED
                error = (
                    f"no status from its worker on {status.node_id} for "
                    f"{now - status.updated_at:.0f} s"
                )
        return HealthSnapshot(
            camera_id=cam.id,
            state=state,
            since=since,
            input_fps=0.0,
            analysed_fps=fps,
            lag_s=None,
            lag_p50_s=None,
            lag_p95_s=None,
            reconnects=0,
            attempts=0,
            frames_received=0,
            frames_analysed=0,
            last_frame_age_s=since_frame_s,
            last_error=error,
            source=f"fleet:{cam.id}",  # the URL (and its credentials) stay with the workers
        )

    def zone_has_data(self, zone: Zone, now: float | None = None) -> bool:
        """False while the zone's camera is not live or its latest sample is stale."""
        return bool(self.fresh_zones([zone], now))

    def fresh_zones(self, zones: Sequence[Zone], now: float | None = None) -> set[str]:
        """The ids of ``zones`` that have data: camera live, latest sample fresh.  Many
        at once read the registry and the feed's times once, no sample decoded."""
        now = time.time() if now is None else now
        states = self._read_health()[1]
        times = self.feed.latest_times([z.id for z in zones])
        fresh_s, live = self._fresh_s, StreamState.LIVE
        out = set()
        for z in zones:
            t = times.get(z.id)
            if (
                t is not None
                and states.get(z.camera_id) is live
                and now - t <= fresh_s[z.camera_id]
            ):
                out.add(z.id)
        return out

    def anonymised_jpeg(self, camera_id: str) -> bytes | None:
        raise PixelsElsewhere(
            f"camera '{camera_id}' is analysed on a worker node; its images stay there and "
            "this API server (crowdsafe serve) has none"
        )

    def snapshot(self, alert_id: str) -> bytes | None:
        return None  # snapshots are kept on the node that saw the alert open

    def close(self) -> None:
        self.listener.close()
        self.feed.close()
        self.store.close()
        close = getattr(self.registry, "close", None)
        if callable(close):
            close()
