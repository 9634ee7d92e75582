"""The whole config tree, :class:`CrowdsafeConfig`, and the checks across its sections.

A check that spans sections (ids unique across the site, an event naming a zone that a
camera defines) fails here, at the top level, so its message starts with the key path
it is about (``forecast.events[0].zones[1]: ...``); ``config/load.py`` turns that path
back into the YAML line.  Paths in the config are relative to the config file's folder
(:meth:`CrowdsafeConfig.resolve`), never to the working directory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from crowdsafe.alerts.settings import AlertsConfig
from crowdsafe.config.camera import CameraConfig
from crowdsafe.config.live import LiveViewLimits
from crowdsafe.config.privacy import MODEL_ROLES, ModelsConfig, PrivacyConfig
from crowdsafe.config.server import ServerConfig
from crowdsafe.config.storage import SqliteStorageConfig, StorageSection
from crowdsafe.config.thresholds import ThresholdsConfig
from crowdsafe.forecast.settings import ForecastConfig
from crowdsafe.strict import StrictModel

__all__ = ["CrowdsafeConfig"]


class CrowdsafeConfig(StrictModel):
    site: str = Field("crowdsafe", max_length=120, description="Site name on the dashboard.")
    cameras: list[CameraConfig] = Field(min_length=1, description="The cameras to analyse.")
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    storage: StorageSection = Field(
        default_factory=SqliteStorageConfig, description="Where aggregates are stored, by backend."
    )
    server: ServerConfig = Field(default_factory=ServerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert rules, sinks.")
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig, description="Planning forecast, nowcast, staffing."
    )
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    live_view_limits: LiveViewLimits = Field(
        default_factory=LiveViewLimits, description="What serving the live view may cost."
    )
    models: ModelsConfig = Field(
        default_factory=ModelsConfig,
        description=f"Models by role; the only roles are {', '.join(MODEL_ROLES)}.",
    )
    base_dir: Path = Field(Path("."), exclude=True, description="Set by load_config.")

    @model_validator(mode="after")
    def _unique_ids(self) -> CrowdsafeConfig:
        seen_cam: set[str] = set()
        seen_zone: dict[str, str] = {}
        for cam in self.cameras:
            if cam.id in seen_cam:
                raise ValueError(f"camera id '{cam.id}' is used twice; ids must be unique")
            seen_cam.add(cam.id)
            ids: list[str] = [z.id for z in cam.zones] + [ln.id for ln in cam.lines]
            for zone_id in ids:
                if zone_id in seen_zone:
                    raise ValueError(
                        f"zone id '{zone_id}' is used by cameras '{seen_zone[zone_id]}' and "
                        f"'{cam.id}'; zone and line ids must be unique across the site"
                    )
                seen_zone[zone_id] = cam.id
        return self

    @model_validator(mode="after")
    def _event_zones(self) -> CrowdsafeConfig:
        zones = {z.id for cam in self.cameras for z in cam.zones}
        for i, event in enumerate(self.forecast.events):
            for j, zone_id in enumerate(event.zones or []):
                if zone_id not in zones:
                    raise ValueError(
                        f"forecast.events[{i}].zones[{j}]: unknown zone '{zone_id}' in "
                        f"event '{event.name}'; the zones are: {', '.join(sorted(zones))}"
                    )
        return self

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)
