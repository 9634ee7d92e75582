"""Each camera's cost in cores, for the assignment: from the measured cost profile.

The same model as ``crowdsafe plan`` (``evaluation/plan.py``): a camera analysed at
``analysis_fps`` costs what one camera of the profile's entry for its resolution costs,
scaled to that rate.  Without a profile every camera costs the section's default.
"""

from __future__ import annotations

from crowdsafe.config import CrowdsafeConfig
from crowdsafe.config.cluster import ClusterConfig
from crowdsafe.errors import ConfigError

__all__ = ["camera_costs"]


def camera_costs(config: CrowdsafeConfig, cluster: ClusterConfig) -> dict[str, float]:
    """Camera id -> cores.  Raises ConfigError when the profile cannot be read or has
    no entry for the resolution (its message names the bench command to measure it)."""
    section = cluster.cost
    if section.profile is None:
        return {cam.id: section.default_cores_per_camera for cam in config.cameras}
    if section.resolution is None:
        raise ConfigError(
            "cluster.cost.resolution: a cost profile needs the cameras' resolution, "
            'as the profile names it (e.g. "576p")'
        )
    from crowdsafe.evaluation.plan import plan_cameras
    from crowdsafe.evaluation.profile import load_profile

    path = config.resolve(section.profile)
    profile = load_profile(path)
    by_fps: dict[float, float] = {}
    out: dict[str, float] = {}
    for cam in config.cameras:
        fps = cam.analysis_fps
        if fps not in by_fps:
            plan = plan_cameras(
                profile, cameras=1, resolution=section.resolution, fps=fps, profile_path=path
            )
            by_fps[fps] = plan.per_camera.total()
        out[cam.id] = by_fps[fps]
    return out
