"""The ``privacy:`` and ``models:`` sections: what crowdsafe keeps of what it sees, and
the only jobs a model may do.

``models:`` accepts exactly the roles in :data:`MODEL_ROLES`; any other key is refused
with a message saying why (``config/load.py``), because crowdsafe counts people and
never identifies them or infers anything about them (PRIVACY.md, ADR 0001).
"""

from __future__ import annotations

from pydantic import Field

from crowdsafe.strict import StrictModel

__all__ = ["MODEL_ROLES", "ModelConfig", "ModelsConfig", "PrivacyConfig"]


class PrivacyConfig(StrictModel):
    """What crowdsafe keeps of what it sees (see PRIVACY.md).  Aggregates and alerts keep
    as long as the database is kept; pixels only as anonymised alert snapshots, for at
    most 72 hours."""

    live_view: bool = Field(
        True,
        description="Serve each camera's latest frame, faces and heads pixelated, to the "
        "dashboard. False: no pixels leave crowdsafe at all.",
    )
    face_blur: bool = Field(
        True,
        description="Also find faces (CenterFace) and pixelate them, besides every detected "
        "person's head region.",
    )
    snapshots: bool = Field(
        True, description="Keep one anonymised snapshot of the camera when an alert opens."
    )
    snapshot_dir: str = Field(
        "snapshots", min_length=1, description="Folder of alert snapshots (relative to config)."
    )
    snapshot_retention_h: float = Field(
        72.0,
        gt=0.0,
        le=72.0,
        description="Snapshots are deleted after this many hours (at most 72).",
    )
    purge_interval_s: float = Field(
        600.0, ge=1.0, le=86_400.0, description="How often expired snapshots are purged."
    )


class ModelConfig(StrictModel):
    path: str | None = Field(
        None, description="Model file (relative to the config file); default: the shipped one."
    )


# The only jobs a model may do in crowdsafe.  There is deliberately no role for faces
# beyond finding them to blur them, nor for any personal attribute (PRIVACY.md).
MODEL_ROLES = ("person_detector", "density_counter", "face_blur")


class ModelsConfig(StrictModel):
    person_detector: ModelConfig = Field(default_factory=ModelConfig)
    density_counter: ModelConfig = Field(default_factory=ModelConfig)
    face_blur: ModelConfig = Field(default_factory=ModelConfig)
