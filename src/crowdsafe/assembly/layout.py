"""Zones and counting lines of a camera, measured on its calibrated ground plane, and
the sites the cameras are grouped into."""

from __future__ import annotations

import numpy as np

from crowdsafe.config import CameraConfig, CrowdsafeConfig, ThresholdsConfig
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.site import SiteGroup

__all__ = ["build_zones", "counting_lines", "site_groups"]


def build_zones(camera: CameraConfig, thresholds: ThresholdsConfig) -> list[Zone]:
    """Each configured zone with its ground area (m²) and perimeter (m) through the
    camera's calibration, the level-of-service bands of its profile, the detector's
    precision/recall and calibration error its density interval needs, and what its
    exits let out a minute (their widths at ``thresholds.exit_capacity_per_m_min``)."""
    hom = camera.calibration.homography()
    rms = float(np.sqrt(np.mean(hom.reprojection_errors_m() ** 2)))
    widths = {ln.id: ln.width_m for ln in counting_lines(camera)}
    zones = []
    for z in camera.zones:
        ground = hom.to_ground(z.polygon)
        perimeter = float(np.hypot(*(np.roll(ground, -1, axis=0) - ground).T).sum())
        zones.append(
            Zone(
                id=z.id,
                camera_id=camera.id,
                name=z.display_name,
                polygon_px=np.asarray(z.polygon, dtype=np.float64),
                area_m2=hom.area_m2(z.polygon),
                space_bounds_m2=thresholds.space_bounds(z.profile),
                profile=z.profile,
                precision=camera.detector.precision,
                recall=camera.detector.recall,
                perimeter_m=perimeter,
                calibration_rms_m=rms,
                density_relative_error=camera.density.relative_error,
                exit_capacity_per_min=sum(widths[e] for e in z.exits)
                * thresholds.exit_capacity_per_m_min,
            )
        )
    return zones


def counting_lines(camera: CameraConfig) -> list[CountingLine]:
    """The camera's counting lines, widths (m) measured on the ground where not given."""
    hom = camera.calibration.homography()
    out = []
    for ln in camera.lines:
        width = ln.width_m
        if width is None:
            a, b = hom.to_ground(list(ln.points))
            width = float(np.hypot(*(b - a)))
        out.append(
            CountingLine(ln.id, camera.id, ln.display_name, ln.points[0], ln.points[1], width)
        )
    return out


def site_groups(config: CrowdsafeConfig) -> list[SiteGroup]:
    """The config's sites (``sites:``, or the one implicit site) with their cameras."""
    cameras: dict[str, list[str]] = {s.id: [] for s in config.site_list()}
    for cam in config.cameras:
        cameras[config.site_of(cam)].append(cam.id)
    return [SiteGroup(s.id, s.display_name, cameras[s.id]) for s in config.site_list()]
