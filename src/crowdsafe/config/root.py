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
from crowdsafe.config.auth import AuthConfig
from crowdsafe.config.camera import CameraConfig
from crowdsafe.config.cluster import ClusterConfig
from crowdsafe.config.live import LiveViewLimits
from crowdsafe.config.privacy import MODEL_ROLES, ModelsConfig, PrivacyConfig
from crowdsafe.config.server import ServerConfig
from crowdsafe.config.sites import SiteConfig, default_site_id
from crowdsafe.config.storage import (
    SqliteStorageConfig,
    StorageSection,
    shared_store,
)
from crowdsafe.config.thresholds import ThresholdsConfig
from crowdsafe.forecast.settings import ForecastConfig
from crowdsafe.strict import StrictModel

__all__ = ["CrowdsafeConfig"]


class CrowdsafeConfig(StrictModel):
    site: str = Field("crowdsafe", max_length=120, description="Site name on the dashboard.")
    cameras: list[CameraConfig] = Field(min_length=1, description="The cameras to analyse.")
    sites: list[SiteConfig] = Field(
        default_factory=list,
        max_length=10_000,
        description="Sites the cameras are grouped into (config/sites.py); none: one site "
        "named after `site`, holding every camera.",
    )
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    storage: StorageSection = Field(
        default_factory=SqliteStorageConfig, description="Where aggregates are stored, by backend."
    )
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Logins, tokens, audit, TLS.")
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
    cluster: ClusterConfig | None = Field(
        None, description="Run the cameras on a Ray cluster (needs storage: postgresql)."
    )
    base_dir: Path = Field(Path("."), exclude=True, description="Set by load_config.")

    @model_validator(mode="after")
    def _cluster_store(self) -> CrowdsafeConfig:
        if self.cluster is not None:
            shared_store(self.storage, "cluster")  # a ConfigError is a ValueError
        return self

    @model_validator(mode="after")
    def _unique_ids(self) -> CrowdsafeConfig:
        # Each message starts with the key path of the duplicate itself, so the loader
        # reports it at the duplicate's own line, and names where the id was first used.
        cams: dict[str, int] = {}
        subjects: dict[str, str] = {}
        for i, cam in enumerate(self.cameras):
            if cam.id in cams:
                raise ValueError(
                    f"cameras[{i}].id: camera id '{cam.id}' is already used by "
                    f"cameras[{cams[cam.id]}]; camera ids must be unique"
                )
            cams[cam.id] = i
            paths = [(f"cameras[{i}].zones[{j}]", "zone", z.id) for j, z in enumerate(cam.zones)]
            paths += [(f"cameras[{i}].lines[{j}]", "line", ln.id) for j, ln in enumerate(cam.lines)]
            for path, kind, subject_id in paths:
                if subject_id in subjects:
                    raise ValueError(
                        f"{path}.id: {kind} id '{subject_id}' is already used by "
                        f"{subjects[subject_id]}; zone and line ids must be unique across "
                        "the site"
                    )
                subjects[subject_id] = path
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

    @model_validator(mode="after")
    def _camera_sites(self) -> CrowdsafeConfig:
        known: dict[str, int] = {}
        for i, site in enumerate(self.sites):
            if site.id in known:
                raise ValueError(
                    f"sites[{i}].id: site id '{site.id}' is already used by sites[{known[site.id]}]"
                )
            known[site.id] = i
        for i, cam in enumerate(self.cameras):
            if cam.site is None and len(self.sites) > 1:
                raise ValueError(
                    f"cameras[{i}]: camera '{cam.id}' names no site, and there are "
                    f"{len(self.sites)}; give it one of: {', '.join(known)}"
                )
            if cam.site is not None and cam.site not in known:
                valid = ", ".join(known) or "none (no sites: section)"
                raise ValueError(
                    f"cameras[{i}].site: unknown site '{cam.site}'; the sites are: {valid}"
                )
        return self

    def site_list(self) -> list[SiteConfig]:
        """The sites, or the one implicit site of a config without ``sites:``."""
        return self.sites or [SiteConfig(id=default_site_id(self.site), name=self.site)]

    def site_of(self, camera: CameraConfig) -> str:
        """The id of the site ``camera`` belongs to."""
        return camera.site or self.site_list()[0].id

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def auth_store_path(self) -> Path:
        """The auth store: ``auth.path``, or ``auth.db`` beside the SQLite database (beside
        the config file when the store is a server)."""
        if self.auth.path is not None:
            return self.resolve(self.auth.path)
        if not isinstance(self.storage, SqliteStorageConfig):
            return self.base_dir / "auth.db"
        return self.resolve(self.storage.path).parent / "auth.db"

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)
