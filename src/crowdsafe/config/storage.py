"""The ``storage:`` section: where aggregates go and how long one time bucket is.

The section is picked by ``backend`` (a discriminated union, see
:mod:`crowdsafe.strict`): :class:`StorageConfig` holds what every backend shares (the
bucket lengths, which fix what a stored row means), each backend is one subclass with a
``Literal`` backend and its own connection settings: ``sqlite`` (the default, so a
``storage:`` block without ``backend`` loads as before) and ``postgresql``.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from crowdsafe.errors import ConfigError
from crowdsafe.strict import StrictModel, default_tag

__all__ = [
    "PostgresStorageConfig",
    "RetentionConfig",
    "SqliteStorageConfig",
    "StorageConfig",
    "StorageSection",
    "scratch_sqlite",
    "shared_store",
]


_DAYS_MAX = 36_500.0  # a century: any longer is "forever", which None says


class RetentionConfig(StrictModel):
    """How long each resolution of the zone series is kept, days (None: forever).

    Why each coarser resolution must be kept longer: a chart of an old window reads
    the rollups once the 1-s rows have gone, and the hours are rolled up from the
    minutes; keeping the minutes shorter than the samples would leave nothing to read
    the 1-min resolution from.  The maintenance loop (``store/maintenance.py``) never
    purges a row that is not yet rolled up, whatever its age."""

    samples_days: float | None = Field(
        30.0,
        gt=0.0,
        le=_DAYS_MAX,
        description="Days the 1-s zone samples (and the line samples) are kept; "
        "null keeps them forever.",
    )
    minutes_days: float | None = Field(
        400.0,
        gt=0.0,
        le=_DAYS_MAX,
        description="Days the 1-min zone rollups are kept; null keeps them forever.",
    )
    hours_days: float | None = Field(
        None,
        gt=0.0,
        le=_DAYS_MAX,
        description="Days the 1-h zone rollups are kept; null (the default) keeps them forever.",
    )

    @model_validator(mode="after")
    def _coarser_kept_longer(self) -> RetentionConfig:
        order = [
            ("samples_days", self.samples_days),
            ("minutes_days", self.minutes_days),
            ("hours_days", self.hours_days),
        ]
        for (finer, f_days), (coarser, c_days) in itertools.pairwise(order):
            # None keeps forever: longer than any number of days (both None is fine)
            if c_days is not None and (f_days is None or c_days <= f_days):
                raise ValueError(
                    f"retention.{coarser} ({_days(c_days)}) must be longer than "
                    f"retention.{finer} ({_days(f_days)}): the coarser resolution is what is "
                    "read once the finer one has gone, and it is rolled up from the finer one"
                )
        return self


def _days(days: float | None) -> str:
    return "null, forever" if days is None else f"{days:g} days"


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
    backlog_max: int = Field(
        200_000,
        ge=100,
        le=50_000_000,
        description="Most samples kept in memory while the database is down or slow "
        "(crowdsafe.store.queued); beyond it the oldest are dropped and counted.",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="How long the 1-s samples and the 1-min and 1-h rollups are kept.",
    )
    rollup_interval_s: float = Field(
        60.0,
        ge=5.0,
        le=3600.0,
        description="Seconds between two rounds of the store's maintenance: partitions "
        "made ahead, rollups refreshed, retention applied.",
    )


class SqliteStorageConfig(StorageConfig):
    """One SQLite file: a single process's store."""

    backend: Literal["sqlite"] = Field("sqlite", description="Which database stores.")
    path: str = Field(
        "crowdsafe.db", min_length=1, description="SQLite file (relative to the config file)."
    )


class PostgresStorageConfig(StorageConfig):
    """A PostgreSQL database: one store shared by several servers and analysis nodes
    (needs the ``postgresql`` extra: ``pip install 'crowdsafe[postgresql]'``)."""

    backend: Literal["postgresql"] = Field(description="Which database stores.")
    dsn: str = Field(
        min_length=1,
        max_length=2000,
        description="libpq connection string or URI, e.g. "
        "postgresql://crowdsafe@db.example:5432/crowdsafe; keep the password out of it "
        "(PGPASSWORD or ~/.pgpass): the config file is not a secret store.",
    )
    pool_max: int = Field(
        4, ge=1, le=64, description="Most connections the store keeps open to the server."
    )
    connect_timeout_s: float = Field(
        10.0,
        ge=0.5,
        le=300.0,
        description="Longest wait to connect, or for a free connection of the pool, seconds.",
    )
    notify: bool = Field(
        False,
        description="Send each batch of zone samples on the PostgreSQL channel "
        "crowdsafe_samples as it commits, for the API servers of a fleet (store/notify.py); "
        "off, the default, sends nothing.",
    )


# default_tag keeps a block without `backend` loading as SQLite.
StorageSection = Annotated[
    SqliteStorageConfig | PostgresStorageConfig,
    Field(discriminator="backend"),
    default_tag("backend", "sqlite"),
]


def scratch_sqlite(section: StorageConfig, path: str) -> SqliteStorageConfig:
    """A SQLite file at ``path`` with the buckets of ``section``: where a demo or a
    benchmark writes, so that it never writes into a site's own database (a server's
    above all, shared with the control room)."""
    return SqliteStorageConfig(
        path=path, bucket_s=section.bucket_s, line_bucket_s=section.line_bucket_s
    )


def shared_store(
    storage: SqliteStorageConfig | PostgresStorageConfig, where: str
) -> PostgresStorageConfig:
    """``storage`` as the store a fleet's processes share; ConfigError, its message
    starting with ``where``, unless it is PostgreSQL."""
    if not isinstance(storage, PostgresStorageConfig):
        raise ConfigError(
            f"{where}: the workers of a cluster share one store, so it needs "
            f"storage.backend: postgresql (got {storage.backend})"
        )
    return storage
