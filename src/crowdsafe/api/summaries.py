"""Totals per site, from what the site holds in memory: no scan of the samples table.

Why in memory: a city dashboard asks for every site's totals every few seconds, and at
8,000 cameras (24,000 zones) one "latest sample of each zone" query per request would be
a query the size of the fleet.  Each zone's latest sample is the live feed's map
(:meth:`~crowdsafe.feed.LiveFeed.latest`): a runtime fills it as it measures, and an API
server over the shared store fills it once on start with one query and then from the
notifications of the workers (``apiserver/``, ADR 0006).  The only store read per
request is the active alerts, a small table.

Why fields, not samples: the feed of a fleet's API server keeps each zone's newest
notification undecoded (``feed.py``), and decoding 24,000 samples to read three of their
fields was most of the totals' cost; :meth:`~crowdsafe.feed.LiveFeed.latest_fields` and
:meth:`~crowdsafe.site.Site.fresh_zones` read what the totals need as it is.

Why a cache: at that size the totals still take some 50 ms of CPU (24,000 zones looked
at), and every open city dashboard asks for them; :class:`SummaryCache` computes every
site's totals at most once a second for all of them, in the background, so the totals
a dashboard shows are about a second older than the feed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crowdsafe.api.site_schemas import SiteSummaryPublic
from crowdsafe.ingest.health import StreamState
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.site import CameraInfo, Site, SiteGroup
from crowdsafe.types import AlertState, LevelOfService

__all__ = ["ALERTS_MAX", "Layouts", "Summaries", "SummaryCache", "summarise"]

log = logging.getLogger(__name__)

ALERTS_MAX = 10_000
"""Active alerts read per request at most."""

_LOS_ORDER = {los: i for i, los in enumerate(LevelOfService)}
_FIELDS = ("count", "density_per_m2", "los")
_Totals = tuple[float, float | None, LevelOfService | None]


def _totals(fields: list[tuple[Any, ...]], site_id: str) -> _Totals:
    """(persons, densest, worst level of service) of zones' (count, density, level);
    a zone whose fields do not read (a sample from a worker of another version) is
    logged and left out of the totals rather than failing them."""
    try:
        return _totals_of(fields)
    except (KeyError, TypeError, IndexError, ValueError):
        pass
    good = []
    for f in fields:
        try:
            good.append((float(f[0]), float(f[1]), _LEVELS[f[2]]))
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    log.warning("site %s: %d zones' latest samples do not read; left out of its totals",
                site_id, len(fields) - len(good))  # fmt: skip
    return _totals_of(good)


def _totals_of(fields: Sequence[tuple[Any, ...]]) -> _Totals:
    persons = round(sum(f[0] for f in fields), 2)  # a text among them raises TypeError
    densest = max((f[1] for f in fields), default=None)
    if densest is not None and not isinstance(densest, int | float):
        raise TypeError(f"a density of {densest!r}")
    worst = max((f[2] for f in fields), key=_LOS_ORDER.__getitem__, default=None)
    return persons, densest, None if worst is None else _LEVELS[worst]


_LEVELS = {los.value: los for los in LevelOfService}  # found by its value or its member


@dataclass(frozen=True)
class Summaries:
    """Every site's totals, and the cameras each site has and each camera's zones (for
    drilling down)."""

    sites: list[SiteSummaryPublic]
    cameras: dict[str, list[CameraInfo]]
    zones: dict[str, list[Zone]]


@dataclass(frozen=True)
class _Layout:
    """What the totals are made over and does not change while a site runs: the sites
    (sorted), their zones, and which site each zone and line belongs to."""

    groups: list[SiteGroup]
    zones: list[Zone]
    zones_of: dict[str, list[Zone]]  # camera id -> its zones
    zone_ids: dict[str, list[str]]  # site id -> its zones' ids
    subjects_of: dict[str, str]  # zone or line id -> its site

    @classmethod
    def of(cls, groups: Sequence[SiteGroup], zones: Sequence[Zone],
           lines: Sequence[CountingLine]) -> _Layout:  # fmt: skip
        groups = sorted(groups, key=lambda g: g.id)
        camera_site = {cid: g.id for g in groups for cid in g.camera_ids}
        mine = [z for z in zones if z.camera_id in camera_site]
        zones_of: dict[str, list[Zone]] = {}
        subjects_of: dict[str, str] = {}
        for z in mine:
            zones_of.setdefault(z.camera_id, []).append(z)
            subjects_of[z.id] = camera_site[z.camera_id]
        for ln in lines:
            if ln.camera_id in camera_site:
                subjects_of[ln.id] = camera_site[ln.camera_id]
        zone_ids = {
            g.id: [z.id for cid in g.camera_ids for z in zones_of.get(cid, ())] for g in groups
        }
        return cls(groups, mine, zones_of, zone_ids, subjects_of)


class Layouts:
    """The last :class:`_Layout` made, made again only when a site's groups, zones or
    lines are no longer the ones it was made of: the groups compared by value, the zones
    and lines by identity (a running site hands out the same objects; a zone holds a
    numpy polygon, which ``==`` cannot compare as a whole)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made_of: tuple[list[SiteGroup], list[Zone], list[CountingLine]] | None = None
        self._layout: _Layout | None = None

    def get(self, groups: list[SiteGroup], zones: list[Zone], lines: list[CountingLine]) -> _Layout:
        with self._lock:
            was = self._made_of
            if (
                self._layout is None
                or was is None
                or was[0] != groups
                or not _same(was[1], zones)
                or not _same(was[2], lines)
            ):
                self._layout = _Layout.of(groups, zones, lines)
                self._made_of = (groups, zones, lines)
            return self._layout


def _same(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def summarise(
    site: Site, groups: Sequence[SiteGroup] | None = None, *, layouts: Layouts | None = None
) -> Summaries:
    """The totals of ``groups`` (default: every site of ``site``), sorted by id;
    ``layouts`` keeps what does not change between calls (:class:`SummaryCache`)."""
    groups = list(site.site_groups() if groups is None else groups)
    layout = (layouts or Layouts()).get(groups, site.zones(), site.lines())
    infos = {c.id: c for c in site.camera_infos()}
    with_data = site.fresh_zones(layout.zones, time.time())
    latest = site.feed.latest_fields(_FIELDS)
    open_alerts: dict[str, int] = {}
    subjects_of = layout.subjects_of
    for a in site.store.alerts([AlertState.OPEN, AlertState.ACKNOWLEDGED], None, ALERTS_MAX):
        where = subjects_of.get(a.subject_id)
        if where is not None:
            open_alerts[where] = open_alerts.get(where, 0) + 1
    out: list[SiteSummaryPublic] = []
    cameras: dict[str, list[CameraInfo]] = {}
    for g in layout.groups:
        cams = [infos[cid] for cid in g.camera_ids if cid in infos]
        cameras[g.id] = cams
        zone_ids = layout.zone_ids[g.id]
        fresh = [latest[z] for z in zone_ids if z in with_data and z in latest]
        persons, densest, worst = _totals(fresh, g.id)
        out.append(
            SiteSummaryPublic(
                id=g.id,
                name=g.name,
                cameras=len(cams),
                cameras_ok=sum(c.health.state is StreamState.LIVE for c in cams),
                zones=len(zone_ids),
                zones_with_data=len(fresh),
                persons_now=persons,
                density_max_per_m2=densest,
                los_worst=worst,
                alerts_open=open_alerts.get(g.id, 0),
            )
        )
    return Summaries(out, cameras, layout.zones_of)


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
        self._layouts = Layouts()

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
            value = summarise(site, layouts=self._layouts)
        finally:
            with self._lock:
                self._refreshing = False
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value
