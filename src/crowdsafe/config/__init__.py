"""The crowdsafe configuration: one YAML file, validated strictly into one model tree.

Every section forbids unknown keys (a typo must not silently become a default) and
every field is described and bounded (:mod:`crowdsafe.strict`).  :func:`load_config`
is the only way in; it turns every problem into a :class:`~crowdsafe.errors.ConfigError`
whose message names the file, the line, the key path (``cameras[0].zones[1].polygon``)
and what would be valid.  Nothing is read at import time.

One module per section; a stage's own section lives with the stage, so that stages
never import this package::

    config/root.py        CrowdsafeConfig: the tree, checks across sections
    config/load.py        load_config, parse_config: YAML in, errors with file:line out
    config/source.py      SourceConfig (a camera's source), is_sample
    config/camera.py      CameraConfig, CalibrationConfig, ZoneConfig, LineConfig
    config/analysis.py    DetectorConfig and its kinds, DensityConfig, TrackingConfig,
                          SkipUnchangedConfig, MotionConfig
    config/thresholds.py  ThresholdsConfig (level-of-service bands)
    config/storage.py     StorageConfig and its backends
    config/cluster.py     ClusterConfig (running the cameras on a Ray cluster)
    config/sites.py       SiteConfig (cameras grouped into sites)
    config/privacy.py     PrivacyConfig, ModelsConfig (the only model roles)
    config/live.py        LiveViewLimits (what serving the live view may cost)
    config/server.py      ServerConfig
    config/auth.py        AuthConfig (logins, tokens, audit, proxy trust, TLS)
    alerts/settings.py    AlertsConfig (rules and sinks)
    forecast/settings.py  ForecastConfig (events, staffing)

Pluggable sections are picked by one key, ``detector.kind`` and ``storage.backend``,
each defaulting to the one implementation shipped today.
"""

from __future__ import annotations

from crowdsafe.alerts.settings import AlertsConfig, LevelsConfig
from crowdsafe.config.analysis import (
    DETECTOR_SECTIONS,
    DensityConfig,
    DetectorConfig,
    DetectorSection,
    MotionConfig,
    NanoDetConfig,
    SkipUnchangedConfig,
    TrackingConfig,
    YoloxNanoConfig,
)
from crowdsafe.config.auth import AuthConfig, TlsConfig
from crowdsafe.config.camera import (
    CalibrationConfig,
    CameraConfig,
    Identifier,
    LineConfig,
    Point,
    ZoneConfig,
)
from crowdsafe.config.cluster import CameraCostConfig, ClusterConfig
from crowdsafe.config.live import LiveViewLimits
from crowdsafe.config.load import load_config, parse_config
from crowdsafe.config.privacy import MODEL_ROLES, ModelConfig, ModelsConfig, PrivacyConfig
from crowdsafe.config.root import CrowdsafeConfig
from crowdsafe.config.server import ServerConfig
from crowdsafe.config.source import SAMPLE_PREFIX, SourceConfig, is_sample
from crowdsafe.config.storage import (
    PostgresStorageConfig,
    SqliteStorageConfig,
    StorageConfig,
    StorageSection,
)
from crowdsafe.config.thresholds import ThresholdsConfig
from crowdsafe.forecast.settings import EventConfig, ForecastConfig, StaffingConfig
from crowdsafe.strict import LosLetter

__all__ = [
    "DETECTOR_SECTIONS",
    "MODEL_ROLES",
    "SAMPLE_PREFIX",
    "AlertsConfig",
    "AuthConfig",
    "CalibrationConfig",
    "CameraConfig",
    "CameraCostConfig",
    "ClusterConfig",
    "CrowdsafeConfig",
    "DensityConfig",
    "DetectorConfig",
    "DetectorSection",
    "EventConfig",
    "ForecastConfig",
    "Identifier",
    "LevelsConfig",
    "LineConfig",
    "LiveViewLimits",
    "LosLetter",
    "ModelConfig",
    "ModelsConfig",
    "MotionConfig",
    "NanoDetConfig",
    "Point",
    "PostgresStorageConfig",
    "PrivacyConfig",
    "ServerConfig",
    "SkipUnchangedConfig",
    "SourceConfig",
    "SqliteStorageConfig",
    "StaffingConfig",
    "StorageConfig",
    "StorageSection",
    "ThresholdsConfig",
    "TlsConfig",
    "TrackingConfig",
    "YoloxNanoConfig",
    "ZoneConfig",
    "is_sample",
    "load_config",
    "parse_config",
]
