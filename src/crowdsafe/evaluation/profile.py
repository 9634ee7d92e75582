"""Per-camera costs measured by ``crowdsafe bench --cameras --profile FILE``, read by
``crowdsafe plan``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from crowdsafe.errors import ConfigError
from crowdsafe.strict import StrictModel

__all__ = ["DEFAULT_PROFILE_PATH", "CostEntry", "CostProfile", "load_profile", "save_profile"]

DEFAULT_PROFILE_PATH = Path("crowdsafe-profile.json")


class CostEntry(StrictModel):
    """What one camera of one kind costs, measured on one machine."""

    resolution: str = Field(
        pattern=r"^[0-9]{2,5}p$", description='"1080p", "720p", "576p" ... (height + "p")'
    )
    width: int = Field(ge=16, le=16384, description="Pixels of the stream, across.")
    height: int = Field(ge=16, le=16384, description="Pixels of the stream, down.")
    stream_fps: float = Field(gt=0.0, le=1000.0, description="The stream's frame rate.")
    gop: int = Field(ge=1, le=100_000, description="Measured keyframe interval, frames.")
    mode: Literal["all", "nonref", "keyframes"] = Field(description="The decode mode measured.")
    analysed_fps: float = Field(gt=0.0, le=1000.0, description="Analysis rate asked per camera.")
    decode_cores_per_camera: float = Field(
        ge=0.0, le=1000.0, description="CPU-seconds per second spent decoding one camera."
    )
    analysis_cpu_s_per_frame: float = Field(
        ge=0.0, le=1000.0, description="Detector + tracking + zones, CPU-seconds per frame."
    )
    store_cpu_s_per_frame: float = Field(
        ge=0.0,
        le=1000.0,
        description="Writing samples, CPU-seconds per analysed frame (0 if not separable).",
    )
    cameras_per_core: float = Field(
        ge=0.0, description="1 / (decode + analysed_fps * (analysis + store))."
    )
    achieved_fps_min: float = Field(ge=0.0, description="The slowest camera's analysed rate.")
    lag_p95_s: float = Field(ge=0.0, description="95th percentile analysis lag, seconds.")
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where the detector ran.")
    measured_at: str = Field(min_length=1, description="ISO 8601 UTC.")
    machine: str = Field(min_length=1, description='e.g. "2 cores, <cpu model>".')


class CostProfile(StrictModel):
    """Every measured camera kind of a site's machines."""

    version: Literal[1] = Field(1, description="Format version of this file.")
    entries: list[CostEntry] = Field(description="One entry per measured camera kind.")


def _key(e: CostEntry) -> tuple[str, int, str, float, str]:
    return (e.resolution, e.gop, e.mode, e.analysed_fps, e.device)


def load_profile(path: str | Path) -> CostProfile:
    """The profile in ``path``; ConfigError naming the file when it is missing or invalid."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"cost profile not found: {p} (write one with `crowdsafe bench --cameras N "
            f"--profile {p}`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read cost profile {p}: {exc}") from None
    try:
        return CostProfile.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(f"invalid cost profile {p}: {exc}") from None


def save_profile(path: str | Path, profile: CostProfile) -> None:
    """Write ``profile`` as JSON into ``path``, keeping the entries already there whose
    (resolution, gop, mode, analysed_fps, device) no new entry replaces."""
    p = Path(path)
    entries: dict[tuple[str, int, str, float, str], CostEntry] = {}
    if p.exists():
        for old in load_profile(p).entries:
            entries[_key(old)] = old
    for new in profile.entries:
        entries[_key(new)] = new
    merged = CostProfile(entries=list(entries.values()))
    p.write_text(merged.model_dump_json(indent=2) + "\n", encoding="utf-8")
