"""A whole deployment from a config: :func:`assemble` builds, the runtime runs.

Parts can be given instead of built (``detector=``, ``store=``...): tests pass fakes,
the benchmark passes one detector for every run.  A given detector declares no
capability, so a camera's ``detector.tile_px`` does not apply to it (with a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from crowdsafe.alerts.base import AlertSink
from crowdsafe.alerts.build import build_sinks
from crowdsafe.alerts.engine import AlertEngine, EventSink
from crowdsafe.assembly.factories import (
    DetectorKind,
    build_anonymiser,
    build_density_model,
    build_detectors,
    build_store,
    store_location,
)
from crowdsafe.assembly.layout import build_zones, counting_lines
from crowdsafe.assembly.sources import address_for, is_offline, reader_options
from crowdsafe.assembly.stages import build_density_stage, build_pipeline, detect_threshold
from crowdsafe.config import CameraConfig, CrowdsafeConfig
from crowdsafe.density.counter import DensityCounter
from crowdsafe.detect.base import Detector
from crowdsafe.feed import LiveFeed
from crowdsafe.forecast.service import ForecastService
from crowdsafe.ingest.health import CameraHealth
from crowdsafe.ingest.reader import ReaderOptions
from crowdsafe.ingest.url import SourceAddress
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.privacy.snapshots import RetentionPurger, SnapshotStore
from crowdsafe.store.base import Store
from crowdsafe.store.maintenance import MaintenanceLoop
from crowdsafe.store.queued import QueuedStore
from crowdsafe.types import LineSample, ZoneSample

__all__ = ["Assembly", "CameraParts", "SampleRouter", "assemble"]

log = logging.getLogger(__name__)


@dataclass
class CameraParts:
    """What one camera is made of; the runtime adds its reader thread."""

    config: CameraConfig
    address: SourceAddress
    options: ReaderOptions
    offline: bool
    zones: list[Zone]
    lines: list[CountingLine]
    health: CameraHealth
    pipeline: CameraPipeline


class SampleRouter:
    """Where samples go once measured: live feed, alert rules, retained sink state."""

    def __init__(self, feed: LiveFeed, alerts: AlertEngine, sinks: Sequence[AlertSink]) -> None:
        self.feed = feed
        self.alerts = alerts
        self.sinks = list(sinks)

    def zones(self, samples: Sequence[ZoneSample]) -> None:
        self.feed.publish(samples)
        for sample in samples:
            self.alerts.observe_zone(sample)
            for sink in self.sinks:
                sink.publish_state(sample)

    def lines(self, samples: Sequence[LineSample]) -> None:
        self.feed.publish_lines(samples)
        for sample in samples:
            self.alerts.observe_line(sample)


@dataclass
class Assembly:
    """Every object of one deployment, built and wired, nothing started."""

    config: CrowdsafeConfig
    store: Store
    store_location: str
    feed: LiveFeed
    sinks: list[AlertSink]
    alerts: AlertEngine
    anonymiser: Anonymiser
    snapshots: SnapshotStore | None
    purger: RetentionPurger | None
    maintenance: MaintenanceLoop | None
    """Rollups and retention of a store built from the config (None for a given one:
    the caller's to maintain)."""
    cameras: dict[str, CameraParts]
    build_camera: Callable[[CameraConfig], CameraParts]
    """Builds one more camera of the config with the same shared parts."""
    forecast: ForecastService


def _alert_engine(
    config: CrowdsafeConfig, store: Store, on_event: Sequence[EventSink]
) -> AlertEngine:
    names = {z.id: z.display_name for c in config.cameras for z in c.zones}
    names.update({ln.id: ln.display_name for c in config.cameras for ln in c.lines})
    return AlertEngine(
        config.alerts,
        store,
        names=names,
        zone_levels={
            z.id: z.alert_density_per_m2
            for c in config.cameras
            for z in c.zones
            if z.alert_density_per_m2 is not None
        },
        line_levels={
            ln.id: ln.alert_flow_per_m_min
            for c in config.cameras
            for ln in c.lines
            if ln.alert_flow_per_m_min is not None
        },
        on_event=on_event,
    )


def _camera_detectors(
    config: CrowdsafeConfig, detector: Detector | None
) -> dict[str, tuple[Detector, DetectorKind | None]]:
    """Camera id -> (shared detector, its kind; None for a given detector)."""
    thresholds = {c.id: detect_threshold(c) for c in config.cameras}
    if detector is not None:
        return {c.id: (detector, None) for c in config.cameras}
    return dict(build_detectors(config, thresholds))


def _tiled(camera: CameraConfig, detector: Detector, kind: DetectorKind | None) -> Detector:
    tile_px = camera.detector.tile_px
    if not tile_px:
        return detector
    if kind is not None and kind.tile is not None:
        return kind.tile(detector, tile_px)
    log.warning(
        "camera %s: detector.tile_px is ignored: the detector %s cannot detect in image "
        "tiles (its kind declares no tiling)",
        camera.id,
        type(detector).__name__,
    )
    return detector


def _queued(inner: Store, config: CrowdsafeConfig) -> Store:
    return QueuedStore(inner, backlog_max=config.storage.backlog_max)


def assemble(
    config: CrowdsafeConfig,
    *,
    detector: Detector | None = None,
    store: Store | None = None,
    feed: LiveFeed | None = None,
    sinks: list[AlertSink] | None = None,
    anonymiser: Anonymiser | None = None,
    density_model: DensityCounter | None = None,
    on_alert_event: Sequence[EventSink] = (),
    camera_ids: Collection[str] | None = None,
) -> Assembly:
    """Build every part of ``config``'s deployment; parts given are used as they are.

    ``camera_ids`` builds only those cameras (a cluster worker's share; None: all of
    them); the others can be built later with :attr:`Assembly.build_camera`, wired to
    the same store, feed and alert engine.

    ``on_alert_event`` listeners hear each alert event after the live feed and before
    the sinks.  Raises ConfigError (bad source, unknown kind), StoreError (the store
    cannot be opened) and ModelError (a model file is missing or wrong)."""
    # a store given is used as it is; a built one writes through the queue, so that a
    # slow or stopped database never stalls the analysis (store/queued.py)
    the_store = store if store is not None else _queued(build_store(config), config)
    location = store_location(config) if store is None else "(given)"
    the_feed = feed or LiveFeed()
    the_sinks = build_sinks(config.alerts.sinks) if sinks is None else sinks
    engine = _alert_engine(
        config,
        the_store,
        [the_feed.publish_alert, *on_alert_event, *(s.send for s in the_sinks)],
    )
    router = SampleRouter(the_feed, engine, the_sinks)
    privacy = config.privacy
    snapshots = (
        SnapshotStore(config.resolve(privacy.snapshot_dir), privacy.snapshot_retention_h * 3600)
        if privacy.snapshots
        else None
    )
    purger = RetentionPurger(snapshots, privacy.purge_interval_s) if snapshots else None
    shared_density: list[DensityCounter] = [density_model] if density_model else []

    def density() -> DensityCounter:
        if not shared_density:
            shared_density.append(build_density_model(config))
        return shared_density[0]

    detectors: dict[str, tuple[Detector, DetectorKind | None]] = {}

    def build_camera(cam: CameraConfig) -> CameraParts:
        if not detectors:  # built on first use: a worker may start with no camera
            detectors.update(_camera_detectors(config, detector))
        address = address_for(cam, config)
        zones = build_zones(cam, config.thresholds)
        lines = counting_lines(cam)
        shared, kind = detectors[cam.id]
        health = CameraHealth(cam.id, address.display)
        offline = is_offline(cam, address)
        pipeline = build_pipeline(
            cam,
            _tiled(cam, shared, kind),
            zones,
            lines,
            the_store,
            bucket_s=config.storage.bucket_s,
            line_bucket_s=config.storage.line_bucket_s,
            on_samples=router.zones,
            on_line_samples=router.lines,
            density=build_density_stage(cam, zones, density),
            health=health,
            # lag means something for live and paced sources, not for offline files
            measures_lag=not offline,
        )
        return CameraParts(
            config=cam,
            address=address,
            options=reader_options(cam),
            offline=offline,
            zones=zones,
            lines=lines,
            health=health,
            pipeline=pipeline,
        )

    wanted = None if camera_ids is None else set(camera_ids)
    cameras = {
        cam.id: build_camera(cam) for cam in config.cameras if wanted is None or cam.id in wanted
    }
    all_zones = [z for parts in cameras.values() for z in parts.zones]
    return Assembly(
        config=config,
        store=the_store,
        store_location=location,
        feed=the_feed,
        sinks=the_sinks,
        alerts=engine,
        anonymiser=anonymiser or build_anonymiser(config),
        snapshots=snapshots,
        purger=purger,
        maintenance=None
        if store is not None
        else MaintenanceLoop(the_store, config.storage.retention, config.storage.rollup_interval_s),
        cameras=cameras,
        build_camera=build_camera,
        forecast=ForecastService(
            config.forecast, the_store, all_zones, bucket_s=config.storage.bucket_s
        ),
    )
