"""The ``storage:`` section: where aggregates go and how long one time bucket is.

The section is picked by ``backend`` (a discriminated union, see
:mod:`crowdsafe.strict`): :class:`StorageConfig` holds what every backend shares (the
bucket lengths, which fix what a stored row means), each backend is one subclass with a
``Literal`` backend and its own connection settings.  Today the only backend is
``sqlite``, the default, so a ``storage:`` block without ``backend`` loads as before.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from crowdsafe.strict import StrictModel, default_tag

__all__ = ["SqliteStorageConfig", "StorageConfig", "StorageSection"]


class StorageConfig(StrictModel):
    """What every storage backend is configured by.  Not a section by itself: ``storage:``
    is one of its backends (:data:`StorageSection`)."""

    bucket_s: float = Field(
        1.0, ge=0.1, le=3600.0, description="Length of one stored time bucket, seconds."
    )
    line_bucket_s: float = Field(
        60.0,
        ge=1.0,
        le=3600.0,
        description="Length of one flow bucket of a counting line, seconds (flow is "
        "persons/m/min; the Green Guide's limit is per minute).",
    )


class SqliteStorageConfig(StorageConfig):
    """One SQLite file: a single process's store."""

    backend: Literal["sqlite"] = Field("sqlite", description="Which database stores.")
    path: str = Field(
        "crowdsafe.db", min_length=1, description="SQLite file (relative to the config file)."
    )


# One member today; a second backend is `SqliteStorageConfig | PostgresStorageConfig`
# here, and default_tag keeps a block without `backend` loading as SQLite.
StorageSection = Annotated[
    SqliteStorageConfig, Field(discriminator="backend"), default_tag("backend", "sqlite")
]
