"""The ``storage:`` section: where aggregates go and how long one time bucket is."""

from __future__ import annotations

from pydantic import Field

from crowdsafe.strict import StrictModel

__all__ = ["StorageConfig"]


class StorageConfig(StrictModel):
    path: str = Field(
        "crowdsafe.db", min_length=1, description="SQLite file (relative to the config file)."
    )
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
