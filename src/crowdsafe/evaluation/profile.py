"""Per-camera costs measured by ``crowdsafe bench --cameras --profile FILE``, read by
``crowdsafe plan``.

One entry per measured (resolution, gop, mode, analysed_fps, device): the costs of one
camera of that stream, so that a plan for N cameras multiplies measured figures, never
guessed constants.  ``save_profile`` replaces an entry measured again for the same key,
so re-running a bench updates the profile instead of growing it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from crowdsafe.errors import ConfigError
from crowdsafe.strict import StrictModel

__all__ = ["DEFAULT_PROFILE", "CostEntry", "CostProfile", "load_profile", "save_profile"]

DEFAULT_PROFILE = Path("crowdsafe-profile.json")


class CostEntry(StrictModel):
    """What one camera of one kind of stream costs, measured on one machine."""

    resolution: str = Field(
        min_length=2, max_length=16, description='"1080p", "720p", "576p" ... (height + "p")'
    )
    width: int = Field(ge=1, le=16384, description="Pixels across the stream.")
    height: int = Field(ge=1, le=16384, description="Pixels down the stream.")
    stream_fps: float = Field(gt=0.0, le=1000.0, description="The stream's frame rate.")
    gop: int = Field(ge=1, le=100000, description="Measured keyframe interval, frames.")
    mode: Literal["all", "nonref", "keyframes"] = Field(description="The decode mode measured.")
    analysed_fps: float = Field(gt=0.0, le=1000.0, description="Analysis rate asked per camera.")
    decode_cores_per_camera: float = Field(
        ge=0.0, le=1000.0, description="CPU-seconds per second spent decoding one camera."
    )
    analysis_cpu_s_per_frame: float = Field(
        ge=0.0, le=1000.0, description="Detector + tracking + zones, per analysed frame."
    )
    store_cpu_s_per_frame: float = Field(
        ge=0.0,
        le=1000.0,
        description="Writing samples, per analysed frame (0 if not separable).",
    )
    cameras_per_core: float = Field(
        ge=0.0, description="1 / (decode + analysed_fps * (analysis + store))."
    )
    achieved_fps_min: float = Field(ge=0.0, description="The slowest camera's analysed fps.")
    lag_p95_s: float = Field(ge=0.0, description="95th percentile of frame lag, seconds.")
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where the detector ran.")
    measured_at: str = Field(min_length=1, max_length=64, description="ISO 8601 UTC.")
    machine: str = Field(min_length=1, max_length=200, description='e.g. "2 cores, <cpu model>".')


class CostProfile(StrictModel):
    """Every measured entry of one profile file."""

    version: Literal[1] = Field(1, description="The file format's version.")
    entries: list[CostEntry] = Field(description="The measured per-camera costs.")


def _key(entry: CostEntry) -> tuple[object, ...]:
    return (entry.resolution, entry.gop, entry.mode, entry.analysed_fps, entry.device)


def load_profile(path: str | Path) -> CostProfile:
    """The profile in ``path``.  Raises ConfigError naming the file when it is missing,
    not JSON, or not a profile (with pydantic's findings)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no cost profile at {path}: measure one with "
            f"`crowdsafe bench --cameras N --profile {path} --json`"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read cost profile {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"cost profile {path} is not JSON: {exc}") from None
    try:
        return CostProfile.model_validate(data)
    except ValidationError as exc:
        findings = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"cost profile {path} is not valid: {findings}") from None


def save_profile(path: str | Path, profile: CostProfile) -> None:
    """Write ``profile`` to ``path`` as JSON, merged into the profile already there (if
    any): an entry with the same (resolution, gop, mode, analysed_fps, device) as a new
    one is replaced by it; the others are kept."""
    path = Path(path)
    old = load_profile(path).entries if path.exists() else []
    new = {_key(e): e for e in profile.entries}
    kept = [e for e in old if _key(e) not in new]
    merged = CostProfile(entries=[*kept, *new.values()])
    path.write_text(json.dumps(merged.model_dump(), indent=2) + "\n", encoding="utf-8")
