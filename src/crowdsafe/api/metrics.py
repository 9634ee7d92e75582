"""Prometheus metrics at ``/metrics``, read from the site at scrape time.

A custom collector rather than module-level gauges: the values already live in each
camera's health record and the live feed, so a scrape reads them instead of keeping a
second copy up to date.  Zone gauges are absent (not zero) while a zone has no data,
so that an alert on "persons > x" cannot be fooled by a dead camera; likewise the alert
gauges while the database cannot be read (the store's own metrics then show why).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crowdsafe.errors import StoreError
from crowdsafe.ingest.health import StreamState
from crowdsafe.site import Site
from crowdsafe.store.queued import store_health
from crowdsafe.types import AlertState

__all__ = ["METRICS_CONTENT_TYPE", "render_metrics"]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _SiteCollector(Collector):
    def __init__(self, site: Site) -> None:
        self.site = site

    def collect(self) -> Iterator[Metric]:
        rt = self.site
        up = GaugeMetricFamily("crowdsafe_camera_up", "1 if the camera is live", labels=["camera"])
        state = GaugeMetricFamily(
            "crowdsafe_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        in_fps = GaugeMetricFamily(
            "crowdsafe_camera_input_fps", "frames arriving per second", labels=["camera"]
        )
        an_fps = GaugeMetricFamily(
            "crowdsafe_camera_analysed_fps", "frames analysed per second", labels=["camera"]
        )
        lag = GaugeMetricFamily(
            "crowdsafe_camera_lag_seconds",
            "analysis time minus capture time (p95 over recent frames)",
            labels=["camera"],
        )
        reconnects = CounterMetricFamily(
            "crowdsafe_camera_reconnects", "successful reconnects", labels=["camera"]
        )
        for info in rt.camera_infos():
            cid, h = info.id, info.health
            up.add_metric([cid], 1.0 if h.state is StreamState.LIVE else 0.0)
            for s in StreamState:
                state.add_metric([cid, s.value], 1.0 if h.state is s else 0.0)
            in_fps.add_metric([cid], h.input_fps)
            an_fps.add_metric([cid], h.analysed_fps)
            if h.lag_p95_s is not None:
                lag.add_metric([cid], h.lag_p95_s)
            reconnects.add_metric([cid], float(h.reconnects))
        yield from (up, state, in_fps, an_fps, lag, reconnects)

        persons = GaugeMetricFamily(
            "crowdsafe_zone_persons", "mean persons in the zone, last bucket", labels=["zone"]
        )
        density = GaugeMetricFamily(
            "crowdsafe_zone_density_per_m2", "persons per m², last bucket", labels=["zone"]
        )
        latest = rt.feed.latest()
        for zone in rt.zones():
            sample = latest.get(zone.id)
            if sample is None or not rt.zone_has_data(zone):
                continue
            persons.add_metric([zone.id], sample.count)
            density.add_metric([zone.id], sample.density_per_m2)
        yield from (persons, density)

        flow = GaugeMetricFamily(
            "crowdsafe_line_flow_per_m_min",
            "persons per metre per minute, last bucket",
            labels=["line"],
        )
        for line_id, line_sample in rt.feed.latest_lines().items():
            flow.add_metric([line_id], line_sample.flow_per_m_min)
        yield flow

        active = GaugeMetricFamily(
            "crowdsafe_alerts_active", "open or acknowledged alerts", labels=["level"]
        )
        # A database that is down must not take the scrape with it: the store metrics
        # below are what shows the outage.  The alert gauges are then absent, not zero
        # ("no alert active" would be a lie), and while the write queue already knows
        # the store is down they are not asked for: each read would wait out the
        # connect timeout, as long as a scraper's own timeout by default.
        queue = store_health(rt.store)
        stored = None
        if queue is None or queue.connected:
            with contextlib.suppress(StoreError):
                stored = rt.store.alerts([AlertState.OPEN, AlertState.ACKNOWLEDGED])
        if stored is not None:
            levels = {"advisory": 0, "warning": 0, "critical": 0}
            for alert in stored:
                levels[alert.level.value] += 1
            for level, n in levels.items():
                active.add_metric([level], float(n))
            yield active

        connected = GaugeMetricFamily(
            "crowdsafe_sink_connected", "1 if the alert sink is connected (MQTT)", labels=["sink"]
        )
        delivered = CounterMetricFamily(
            "crowdsafe_sink_delivered", "alert deliveries that got through", labels=["sink"]
        )
        failed = CounterMetricFamily(
            "crowdsafe_sink_failed", "alert deliveries given up", labels=["sink"]
        )
        queued = GaugeMetricFamily(
            "crowdsafe_sink_queue_depth", "messages waiting to be delivered", labels=["sink"]
        )
        for sh in rt.sink_health():
            if sh.connected is not None:
                connected.add_metric([sh.name], 1.0 if sh.connected else 0.0)
            delivered.add_metric([sh.name], float(sh.delivered))
            failed.add_metric([sh.name], float(sh.failed))
            queued.add_metric([sh.name], float(sh.queue_depth))
        yield from (connected, delivered, failed, queued)
        yield from _store_metrics(rt)


def _maintenance_metrics(site: Site) -> Iterator[Metric]:
    """The store's rollups and retention (store/maintenance.py); absent where nothing
    maintains the store."""
    m = site.store_maintenance
    if m is None:
        return
    if m.last_run_at is not None:
        yield GaugeMetricFamily(
            "crowdsafe_store_maintenance_last_run_timestamp_seconds",
            "when the store's last maintenance round succeeded (Unix seconds)",
            value=m.last_run_at,
        )
    yield GaugeMetricFamily(
        "crowdsafe_store_maintenance_failing",
        "1 while the store's maintenance rounds fail (retried every rollup_interval_s)",
        value=float(m.last_error is not None),
    )
    lag = m.rollup_lag_s(time.time())
    if lag is not None:
        yield GaugeMetricFamily(
            "crowdsafe_store_rollup_lag_seconds",
            "how far the 1-min rollups are behind now",
            value=lag,
        )


def _store_metrics(site: Site) -> Iterator[Metric]:
    """The write queue in front of the store; absent when the store has none."""
    yield from _maintenance_metrics(site)
    h = store_health(site.store)
    if h is None:
        return
    yield GaugeMetricFamily(
        "crowdsafe_store_connected", "1 while writes to the store succeed", value=float(h.connected)
    )
    yield GaugeMetricFamily(
        "crowdsafe_store_backlog", "samples waiting to be written", value=float(h.backlog)
    )
    yield GaugeMetricFamily(
        "crowdsafe_store_backlog_max", "most samples kept waiting", value=float(h.backlog_max)
    )
    yield CounterMetricFamily(
        "crowdsafe_store_dropped",
        "samples dropped, oldest first, beyond the backlog",
        value=h.dropped,
    )
    yield CounterMetricFamily(
        "crowdsafe_store_written", "samples written to the store", value=h.written
    )


def render_metrics(site: Site) -> bytes:
    """The site's metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SiteCollector(site))
    return generate_latest(registry)
