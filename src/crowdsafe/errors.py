"""The one exception tree of crowdsafe.

Every error raised on purpose by crowdsafe derives from :class:`CrowdsafeError` and
also from the built-in exception a caller would naturally catch, so that
``except FileNotFoundError`` keeps working around a missing video::

    CrowdsafeError
    ├── UsageError(ValueError)            a command-line argument is invalid
    ├── ConfigError(ValueError)           a config file or value is invalid
    ├── CalibrationError(ValueError)      a ground-plane fit is impossible or ill-conditioned
    ├── IngestError                       a camera or video cannot deliver frames
    │   ├── SourceNotFound(FileNotFoundError)
    │   └── SourceUnreadable(OSError)     unreadable, corrupt or not a video
    ├── ModelError(RuntimeError)          a model file is missing or does not match
    └── StoreError(RuntimeError)          the database cannot be opened or written

Messages name the offending value, where it came from (file, key path, camera id)
and what would have been valid.
"""

from __future__ import annotations

__all__ = [
    "CalibrationError",
    "ConfigError",
    "CrowdsafeError",
    "IngestError",
    "ModelError",
    "SourceNotFound",
    "SourceUnreadable",
    "StoreError",
    "UsageError",
]


class CrowdsafeError(Exception):
    """Base of every error crowdsafe raises on purpose."""


class UsageError(CrowdsafeError, ValueError):
    """A command-line argument is invalid; the ``crowdsafe`` command exits with status 2."""


class ConfigError(CrowdsafeError, ValueError):
    """A configuration file or value is invalid."""


class CalibrationError(CrowdsafeError, ValueError):
    """A ground-plane calibration cannot be fitted or is ill-conditioned."""


class IngestError(CrowdsafeError):
    """A camera or video file cannot deliver frames."""


class SourceNotFound(IngestError, FileNotFoundError):
    """The video file or device does not exist."""


class SourceUnreadable(IngestError, OSError):
    """The source exists but cannot be decoded (corrupt, truncated, not a video)."""


class ModelError(CrowdsafeError, RuntimeError):
    """A model file is missing, corrupt or has unexpected inputs/outputs."""


class StoreError(CrowdsafeError, RuntimeError):
    """The database cannot be opened or written."""
