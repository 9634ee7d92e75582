"""Totals per site, from what the site holds in memory: no scan of the samples table.

Why in memory: a city dashboard asks for every site's totals every few seconds, and at
8,000 cameras (24,000 zones) one "latest sample of each zone" query per request would be
a query the size of the fleet.  Each zone's latest sample is the live feed's map
(:meth:`~crowdsafe.feed.LiveFeed.latest`): a runtime fills it as it measures, and an API
server over the shared store fills it once on start with one query and then from the
notifications of the workers (``apiserver/``, ADR 0006).  The only store read per
request is the active alerts, a small table.

Why a cache: at that size the totals take about 0.1 s of CPU (24,000 zones looked at),
and every open city dashboard asks for them; :class:`SummaryCache` computes every
site's totals at most once a second for all of them, in the background, so the totals
a dashboard shows are about a second older than the feed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from crowdsafe.api.site_schemas import SiteSummaryPublic
from crowdsafe.ingest.health import StreamState
from crowdsafe.measure.zones import Zone
from crowdsafe.site import CameraInfo, Site, SiteGroup
from crowdsafe.types import AlertState, LevelOfService

__all__ = ["ALERTS_MAX", "Summaries", "SummaryCache", "summarise"]

log = logging.getLogger(__name__)

ALERTS_MAX = 10_000
"""Active alerts read per request at most."""

_LOS_ORDER = {los: i for i, los in enumerate(LevelOfService)}


@dataclass(frozen=True)
class Summaries:
    """Every site's totals, and the cameras each site has and each camera's zones (for
    drilling down)."""

    sites: list[SiteSummaryPublic]
    cameras: dict[str, list[CameraInfo]]
    zones: dict[str, list[Zone]]


def summarise(site: Site, groups: Sequence[SiteGroup] | None = None) -> Summaries:
    """The totals of ``groups`` (default: every site of ``site``), sorted by id."""
    groups = sorted(site.site_groups() if groups is None else groups, key=lambda g: g.id)
    infos = {c.id: c for c in site.camera_infos()}
    camera_site = {cid: g.id for g in groups for cid in g.camera_ids}
    zones = [z for z in site.zones() if z.camera_id in camera_site]
    now = time.time()
    latest = site.feed.latest()
    with_data = {z.id for z in zones if site.zone_has_data(z, now)}
    zones_of: dict[str, list[Zone]] = {}
    subjects_of: dict[str, str] = {}  # zone or line id -> its site
    for z in zones:
        zones_of.setdefault(z.camera_id, []).append(z)
        subjects_of[z.id] = camera_site[z.camera_id]
    for ln in site.lines():
        if ln.camera_id in camera_site:
            subjects_of[ln.id] = camera_site[ln.camera_id]
    open_alerts: dict[str, int] = {}
    for a in site.store.alerts([AlertState.OPEN, AlertState.ACKNOWLEDGED], None, ALERTS_MAX):
        where = subjects_of.get(a.subject_id)
        if where is not None:
            open_alerts[where] = open_alerts.get(where, 0) + 1
    out: list[SiteSummaryPublic] = []
    cameras: dict[str, list[CameraInfo]] = {}
    for g in groups:
        cams = [infos[cid] for cid in g.camera_ids if cid in infos]
        cameras[g.id] = cams
        zone_ids = [z.id for c in cams for z in zones_of.get(c.id, ())]
        fresh = [latest[zid] for zid in zone_ids if zid in with_data and zid in latest]
        out.append(
            SiteSummaryPublic(
                id=g.id,
                name=g.name,
                cameras=len(cams),
                cameras_ok=sum(c.health.state is StreamState.LIVE for c in cams),
                zones=len(zone_ids),
                zones_with_data=len(fresh),
                persons_now=round(sum(s.count for s in fresh), 2),
                density_max_per_m2=max((s.density_per_m2 for s in fresh), default=None),
                los_worst=max((s.los for s in fresh), key=_LOS_ORDER.__getitem__, default=None),
                alerts_open=open_alerts.get(g.id, 0),
            )
        )
    return Summaries(out, cameras, zones_of)


class SummaryCache:
    """Every site's totals, computed at most once per ``ttl_s`` however many ask.

    Why in the background: at a city's size one computation takes 0.1-0.2 s of a loaded
    CPU, and the request that happened to find the totals a second old would wait that
    long.  Instead it starts one refresh in a thread and answers with the totals it has;
    only totals older than ``stale_max_s`` (nobody asked for a while) are waited for."""

    def __init__(self, ttl_s: float = 1.0, stale_max_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self.stale_max_s = stale_max_s
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: Summaries | None = None
        self._refreshing = False

    def get(self, site: Site) -> Summaries:
        with self._lock:
            elapsed_s = time.monotonic() - self._at
            if self._value is not None and elapsed_s < self.ttl_s:
                return self._value
            if self._value is not None and elapsed_s < self.stale_max_s:
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(
                        target=self._refresh_quietly, args=(site,), name="site-totals", daemon=True
                    ).start()
                return self._value
        return self._refresh(site)

    @property
    def refreshing(self) -> bool:
        """True while a background refresh runs."""
        with self._lock:
            return self._refreshing

    def _refresh_quietly(self, site: Site) -> None:
        # Nobody waits for it: a failure (the store unreachable) is logged, and the
        # totals it had stay until a request finds them too old and fails itself.
        try:
            self._refresh(site)
        except Exception:
            log.exception("the site totals could not be refreshed")

    def _refresh(self, site: Site) -> Summaries:
        try:
            value = summarise(site)
        finally:
            with self._lock:
                self._refreshing = False
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value
