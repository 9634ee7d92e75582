"""The one exception tree of crowdsafe.

Every exception crowdsafe raises on purpose derives from :class:`CrowdsafeError` and
also from the built-in exception a caller would naturally catch, so that
``except FileNotFoundError`` keeps working around a missing video::

    CrowdsafeError
    ├── UsageError(ValueError)            a command-line argument is invalid
    ├── ConfigError(ValueError)           a config file or value is invalid
    ├── CalibrationError(ValueError)      a ground-plane fit is impossible or ill-conditioned
    ├── DatasetError(ValueError)          a dataset folder is missing or not in its layout
    ├── IngestError                       a camera or video cannot deliver frames
    │   ├── SourceNotFound(FileNotFoundError)
    │   ├── SourceUnreadable(OSError)     unreadable, corrupt or not a video
    │   └── StreamStalled(TimeoutError)   a live stream stopped delivering (reader-internal:
    │                                     the reader reconnects, the camera's health shows it)
    ├── ModelError(RuntimeError)          a model file is missing or does not match
    ├── StoreError(RuntimeError)          the database cannot be opened or written
    ├── ClusterError(RuntimeError)        the Ray cluster cannot be used (not installed,
    │                                     unreachable, another fleet runs there)
    ├── AuthError(ValueError)             a user, password or token change is refused
    │   └── LoginThrottled                too many login attempts; try again later
    ├── ServiceBusy(TimeoutError)         a bounded resource is busy (a live image not
    │                                     made in time); try again shortly
    ├── NotFound(LookupError)             an id that names nothing
    │   ├── UnknownZone                   a zone id no camera of the config has
    │   └── AlertNotFound(KeyError)       no alert has that id
    ├── AlertStateError(ValueError)       an alert cannot make that transition
    ├── PixelsElsewhere(LookupError)      a camera's images are on the node analysing it,
    │                                     not in this API server (``crowdsafe serve``)
    └── InsufficientHistory(ValueError)   too little stored history for a forecast

The API answers NotFound with 404, AlertStateError, InsufficientHistory and
PixelsElsewhere with 409,
ServiceBusy with 503 and ``Retry-After``; the CLI exits with status 2 for any of them.
Messages name the offending value, where it came from (file, key path, camera id) and
what would have been valid.
"""

from __future__ import annotations

__all__ = [
    "AlertNotFound",
    "AlertStateError",
    "AuthError",
    "CalibrationError",
    "ClusterError",
    "ConfigError",
    "CrowdsafeError",
    "DatasetError",
    "IngestError",
    "InsufficientHistory",
    "LoginThrottled",
    "ModelError",
    "NotFound",
    "PixelsElsewhere",
    "ServiceBusy",
    "SourceNotFound",
    "SourceUnreadable",
    "StoreError",
    "StreamStalled",
    "UnknownZone",
    "UsageError",
]


class CrowdsafeError(Exception):
    """Base of every error crowdsafe raises on purpose."""


class UsageError(CrowdsafeError, ValueError):
    """A command-line argument is invalid (the CLI prints it and exits with status 2)."""


class ConfigError(CrowdsafeError, ValueError):
    """A configuration file or value is invalid."""


class CalibrationError(CrowdsafeError, ValueError):
    """A ground-plane calibration cannot be fitted or is ill-conditioned."""


class DatasetError(CrowdsafeError, ValueError):
    """A dataset folder that is missing or not in the expected layout."""


class IngestError(CrowdsafeError):
    """A camera or video file cannot deliver frames."""


class SourceNotFound(IngestError, FileNotFoundError):
    """The video file or device does not exist."""


class SourceUnreadable(IngestError, OSError):
    """The source exists but cannot be decoded (corrupt, truncated, not a video)."""


class StreamStalled(IngestError, TimeoutError):
    """A live stream stopped delivering decodable frames for longer than its stall time."""


class ModelError(CrowdsafeError, RuntimeError):
    """A model file is missing, corrupt or has unexpected inputs/outputs."""


class StoreError(CrowdsafeError, RuntimeError):
    """The database cannot be opened or written."""


class ClusterError(CrowdsafeError, RuntimeError):
    """The Ray cluster cannot be used: Ray missing, unreachable, or another fleet."""


class AuthError(CrowdsafeError, ValueError):
    """A user, password or token change is refused (a user that exists already, a password
    too short); an unknown user or token is :class:`NotFound`."""


class LoginThrottled(AuthError):
    """Too many login attempts for a user name or from a client address (the API answers
    429 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceBusy(CrowdsafeError, TimeoutError):
    """A bounded resource is at its bound (a live image not made in time); the API
    answers 503 with ``Retry-After``."""


class NotFound(CrowdsafeError, LookupError):
    """An id that names nothing; the message lists the known ones where it can."""


class UnknownZone(NotFound):
    """A zone id that no camera of the config has."""


class AlertNotFound(NotFound, KeyError):
    """No alert has that id."""


class AlertStateError(CrowdsafeError, ValueError):
    """The alert cannot make that transition (e.g. acknowledging a resolved alert)."""


class InsufficientHistory(CrowdsafeError, ValueError):
    """Too little stored history for the forecast asked for."""


class PixelsElsewhere(CrowdsafeError, LookupError):
    """A camera's images stay on the node that analyses it; an API server over the
    shared store has none (the API answers 409)."""
