"""What the HTTP API needs of a running deployment: the :class:`Site` protocol.

The API depends on this protocol and on nothing else of a deployment, so that

* a test serves every route from :class:`FakeSite` (real store, alert engine and
  forecasts over scripted cameras) without starting a camera, and
* a cluster can serve the same API from its shared store, with no runtime in the API
  process at all.

One process's :class:`~crowdsafe.runtime.Runtime` implements it.  Every image a site
returns has faces and heads pixelated (:func:`crowdsafe.overlay.anonymised_jpeg`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crowdsafe.alerts.base import SinkHealth
from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.alerts.settings import AlertsConfig
from crowdsafe.errors import PixelsElsewhere
from crowdsafe.feed import LiveFeed
from crowdsafe.forecast.service import ForecastService
from crowdsafe.forecast.settings import ForecastConfig
from crowdsafe.ingest.health import HealthSnapshot, StreamState
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.overlay import anonymised_jpeg
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.store.base import Store
from crowdsafe.store.maintenance import MaintenanceStatus
from crowdsafe.store.resolution import Resolutions
from crowdsafe.types import Alert, LiveView

__all__ = ["AlertLifecycle", "CameraInfo", "FakeSite", "Site", "SiteGroup", "fresh_for_s"]


@dataclass(frozen=True)
class CameraInfo:
    """A camera as the API lists it: its health at the time of asking, the site it
    belongs to, and in a fleet the node analysing it and how often it was moved."""

    id: str
    name: str
    zone_ids: list[str]
    health: HealthSnapshot
    site_id: str = ""
    node_id: str | None = None
    moves: int | None = None


@dataclass(frozen=True)
class SiteGroup:
    """A site (a stadium, a station, a district) and the ids of its cameras."""

    id: str
    name: str
    camera_ids: list[str]


class AlertLifecycle(Protocol):
    """An operator's transitions of an alert.  Both raise AlertNotFound for an unknown
    id and AlertStateError for a transition its state does not allow."""

    def acknowledge(self, alert_id: str) -> Alert: ...

    def resolve(self, alert_id: str) -> Alert: ...


class Site(Protocol):
    """A deployment as the API sees it."""

    @property
    def name(self) -> str:
        """The site's name, shown on the dashboard."""
        ...

    @property
    def store(self) -> Store: ...

    @property
    def feed(self) -> LiveFeed: ...

    @property
    def alerts(self) -> AlertLifecycle: ...

    @property
    def forecast(self) -> ForecastService: ...

    @property
    def resolutions(self) -> Resolutions:
        """The raw bucket and how long each resolution is kept (``storage``)."""
        ...

    @property
    def live_view_enabled(self) -> bool:
        """False when ``privacy.live_view`` is off: no camera image is served."""
        ...

    @property
    def live_view_requests_max(self) -> int:
        """Live-view requests served at once; the API answers more with 429."""
        ...

    def camera_infos(self) -> list[CameraInfo]: ...

    def site_groups(self) -> list[SiteGroup]:
        """The sites the cameras are grouped into; each camera is in exactly one."""
        ...

    def zones(self) -> list[Zone]: ...

    def lines(self) -> list[CountingLine]: ...

    def zone_has_data(self, zone: Zone, now: float | None = None) -> bool:
        """False while the zone's camera is not live or its last sample is stale."""
        ...

    def fresh_zones(self, zones: Sequence[Zone], now: float | None = None) -> set[str]:
        """The ids of those of ``zones`` that have data (:meth:`zone_has_data`), judged
        at once: what a city's site totals ask of 24,000 zones every second."""
        ...

    def sink_health(self) -> list[SinkHealth]: ...

    @property
    def store_maintenance(self) -> MaintenanceStatus | None:
        """The last round of the store's rollups and retention (None: nothing here
        maintains the store)."""
        ...

    def anonymised_jpeg(self, camera_id: str) -> bytes | None:
        """The camera's last analysed frame, anonymised, as JPEG; None before the first.
        Raises ServiceBusy when it cannot be made in time."""
        ...

    def snapshot(self, alert_id: str) -> bytes | None:
        """The anonymised snapshot kept when the alert opened; None if none or expired."""
        ...


def fresh_for_s(bucket_s: float, stall_s: float) -> float:
    """How old a zone's latest sample may be and still count as "now" (a site's
    ``zone_has_data``): a few buckets, or the camera's stall time, plus one bucket to
    close and a second of margin."""
    return max(3 * bucket_s, stall_s) + 1.0 + bucket_s


def _health(camera_id: str, state: StreamState, error: str | None) -> HealthSnapshot:
    return HealthSnapshot(
        camera_id=camera_id,
        state=state,
        since=0.0,
        input_fps=0.0,
        analysed_fps=0.0,
        lag_s=None,
        lag_p50_s=None,
        lag_p95_s=None,
        reconnects=0,
        attempts=1,
        frames_received=0,
        frames_analysed=0,
        last_frame_age_s=None,
        last_error=error,
        source=f"fake:{camera_id}",
    )


@dataclass
class FakeSite:
    """A :class:`Site` over scripted cameras, for tests and API development.

    The store, alert engine and forecasts are the real ones over ``store``; what is
    scripted is each camera's state (``states``, default live) and its last frame
    (``views``), which is anonymised as a runtime's would be.  Set ``data`` to False to
    make every zone report no data."""

    store: Store
    zone_list: list[Zone] = field(default_factory=list)
    line_list: list[CountingLine] = field(default_factory=list)
    site_name: str = "fake site"
    camera_names: Mapping[str, str] = field(default_factory=dict)
    states: dict[str, StreamState] = field(default_factory=dict)
    views: dict[str, LiveView] = field(default_factory=dict)
    snapshots: dict[str, bytes] = field(default_factory=dict)
    sinks: Sequence[SinkHealth] = ()
    live_view_enabled: bool = True
    live_view_requests_max: int = 8
    data: bool = True
    store_maintenance: MaintenanceStatus | None = None
    feed: LiveFeed = field(default_factory=LiveFeed)
    forecast_config: ForecastConfig = field(default_factory=ForecastConfig)
    alerts_config: AlertsConfig = field(default_factory=AlertsConfig)
    resolutions: Resolutions = field(default_factory=Resolutions)
    groups: list[SiteGroup] = field(default_factory=list)
    """The sites; none: one site, ``fake``, of every camera."""
    pixels_elsewhere: bool = False
    """Behave as a fleet's API server: no camera image here (PixelsElsewhere)."""

    def __post_init__(self) -> None:
        self.alerts: AlertEngine = AlertEngine(self.alerts_config, self.store)
        self.forecast: ForecastService = ForecastService(
            self.forecast_config, self.store, self.zone_list, bucket_s=self.resolutions.bucket_s
        )
        self._anonymiser = Anonymiser(None)

    @property
    def name(self) -> str:
        return self.site_name

    def _camera_ids(self) -> list[str]:
        return list(dict.fromkeys([*self.camera_names, *(z.camera_id for z in self.zone_list)]))

    def site_groups(self) -> list[SiteGroup]:
        return self.groups or [SiteGroup("fake", self.site_name, self._camera_ids())]

    def camera_infos(self) -> list[CameraInfo]:
        site_of = {cid: g.id for g in self.site_groups() for cid in g.camera_ids}
        return [
            CameraInfo(
                id=cid,
                name=self.camera_names.get(cid, cid),
                zone_ids=[z.id for z in self.zone_list if z.camera_id == cid],
                health=_health(cid, self.states.get(cid, StreamState.LIVE), None),
                site_id=site_of.get(cid, ""),
            )
            for cid in self._camera_ids()
        ]

    def zones(self) -> list[Zone]:
        return list(self.zone_list)

    def lines(self) -> list[CountingLine]:
        return list(self.line_list)

    def zone_has_data(self, zone: Zone, now: float | None = None) -> bool:
        live = self.states.get(zone.camera_id, StreamState.LIVE) is StreamState.LIVE
        return self.data and live and self.store.latest(zone.id) is not None

    def fresh_zones(self, zones: Sequence[Zone], now: float | None = None) -> set[str]:
        return {z.id for z in zones if self.zone_has_data(z, now)}

    def sink_health(self) -> list[SinkHealth]:
        return list(self.sinks)

    def anonymised_jpeg(self, camera_id: str) -> bytes | None:
        if self.pixels_elsewhere:
            raise PixelsElsewhere(
                f"camera '{camera_id}' is analysed elsewhere; its images stay there"
            )
        view = self.views.get(camera_id)
        if view is None:
            return None
        zones = [z for z in self.zone_list if z.camera_id == camera_id]
        lines = [ln for ln in self.line_list if ln.camera_id == camera_id]
        return anonymised_jpeg(view, self._anonymiser, zones, lines)

    def snapshot(self, alert_id: str) -> bytes | None:
        return self.snapshots.get(alert_id)
