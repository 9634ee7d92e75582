"""The ``cluster:`` section: running a config's cameras on a Ray cluster.

With a ``cluster:`` section (or ``crowdsafe run CONFIG --ray ADDRESS``), the cameras are
not run in this process: a controller on the Ray cluster spreads them over one worker
per node (``crowdsafe/cluster/``).  Every worker writes to the one shared store, so the
section needs ``storage.backend: postgresql`` (checked in ``config/root.py``).

Per-camera costs come from a measured cost profile when one is named (``crowdsafe bench
--cameras N --profile FILE``, the figures ``crowdsafe plan`` reads), so that cameras are
spread by what they were measured to cost; ``default_cores_per_camera`` is used when no
profile is named.
"""

from __future__ import annotations

from pydantic import Field

from crowdsafe.strict import StrictModel

__all__ = ["CameraCostConfig", "ClusterConfig"]


class CameraCostConfig(StrictModel):
    """Where the cores each camera costs come from."""

    profile: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="A cost profile from `crowdsafe bench --profile FILE` (relative to "
        "the config file); None: every camera costs default_cores_per_camera.",
    )
    resolution: str | None = Field(
        None,
        min_length=2,
        max_length=16,
        description='The cameras\' stream resolution as the profile names it ("576p", '
        '"1080p"); needed with a profile.',
    )
    default_cores_per_camera: float = Field(
        0.25,
        gt=0.0,
        le=64.0,
        description="Cores one camera is taken to cost without a profile (0.25: about a "
        "576p camera analysed at 4 fps, from the measured 0.02 cores of decoding and "
        "0.06 CPU-seconds per analysed frame, README 'Measured').",
    )


class ClusterConfig(StrictModel):
    """The Ray cluster the cameras run on, and how failures are handled."""

    address: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description='The Ray cluster, e.g. "ray://head.example:10001" or "10.0.0.5:6379" '
        "(`crowdsafe run --ray` overrides it); None: RAY_ADDRESS or a local cluster.",
    )
    namespace: str = Field(
        "crowdsafe",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Ray namespace of the controller and workers (one fleet per namespace).",
    )
    rebalance_interval_s: float = Field(
        1.0,
        ge=0.1,
        le=60.0,
        description="How often the controller looks at the nodes and workers, seconds.",
    )
    worker_timeout_s: float = Field(
        15.0,
        ge=0.5,
        le=300.0,
        description="A worker that has not answered for this long has its cameras moved "
        "to other nodes (Ray may still restart it: it then takes cameras over again). A "
        "node that dies is found by Ray's health checks sooner; this is for a worker that "
        "hangs, and must be longer than a busy worker's slowest answer, or its cameras are "
        "moved while it still runs them (their buckets then written twice).",
    )
    worker_start_s: float = Field(
        60.0,
        ge=1.0,
        le=600.0,
        description="How long a new worker may take to answer first (a Python process, "
        "the models, the store) before its node's cameras go elsewhere, seconds.",
    )
    status_interval_s: float = Field(
        2.0, ge=0.2, le=60.0, description="How often workers write camera health, seconds."
    )
    alert_poll_s: float = Field(
        3.0,
        ge=0.2,
        le=300.0,
        description="How often workers re-read their open alerts, in case a NOTIFY of an "
        "operator's acknowledgement was missed, seconds.",
    )
    cost: CameraCostConfig = Field(
        default_factory=CameraCostConfig, description="What each camera costs, in cores."
    )
