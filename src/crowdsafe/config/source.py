"""A camera's ``source:`` section: where its frames come from and how a live source is
kept alive (timeouts, stall detection, reconnect backoff).

A source URL may carry credentials (``rtsp://user:pass@host``); this module only holds
it.  Everything that shows a URL (logs, errors, API, dashboard) redacts it first
(``ingest/url.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from crowdsafe.ingest.url import SCHEMES, unsupported_scheme, url_scheme
from crowdsafe.strict import StrictModel

__all__ = ["SAMPLE_PREFIX", "SourceConfig", "is_sample"]

SAMPLE_PREFIX = "sample:"


class SourceConfig(StrictModel):
    url: str = Field(
        description="Where frames come from: rtsp://, rtsps://, http(s):// (MJPEG, HLS), "
        "device:/dev/videoN, a folder of images, a video file (paths relative to the "
        "config file), or 'sample:vtest' for the bundled sample video. Credentials in the "
        "URL are never shown: logs, errors, API and dashboard get it redacted.",
        min_length=1,
    )
    transport: Literal["tcp", "udp"] = Field(
        "tcp",
        description="RTSP transport. TCP survives lossy networks and NAT; UDP has less delay.",
    )
    loop: bool = Field(False, description="Start a file (or image folder) again when it ends.")
    realtime: bool = Field(
        True,
        description="Pace a file at its own frame rate, as a live camera would deliver it. "
        "False reads a recording as fast as it can be analysed, dropping no frame.",
    )
    open_timeout_s: float = Field(
        10.0, gt=0.0, le=120.0, description="Give up opening the source after this long."
    )
    stall_s: float = Field(
        5.0,
        gt=0.0,
        le=300.0,
        description="A live source that delivers no frame for this long is stalled: reconnect.",
    )
    reconnect_min_s: float = Field(
        0.5, gt=0.0, le=60.0, description="First reconnect delay; doubles on each failure."
    )
    reconnect_max_s: float = Field(
        2.0,
        gt=0.0,
        le=3600.0,
        description="Longest reconnect delay (times a random 0.5-1 jitter). Short by default: "
        "a camera that comes back is counted again within a few seconds (the wait plus the "
        "connection).",
    )
    probe_s: float = Field(
        0.5,
        gt=0.0,
        le=30.0,
        description="How much of a live stream (RTSP, HTTP) to read to learn its format "
        "before the first frame. Raise it for a camera whose stream is not recognised.",
    )
    folder_fps: float = Field(
        1.0, gt=0.0, le=60.0, description="Frame rate of an image folder source."
    )
    decode: Literal["auto", "all", "nonref", "keyframes"] = Field(
        "auto",
        description="Which frames to decode (ingest/decode.py): 'all'; 'nonref' skips frames "
        "no other frame refers to; 'keyframes' decodes keyframes only, about 30 times "
        "cheaper at 1080p. 'auto' picks the cheapest that meets analysis_fps from the "
        "keyframe interval measured as the stream plays. A mode that cannot meet the "
        "rate (keyframes with a keyframe interval longer than the analysis period) is "
        "replaced by one that can, and the camera's health says so.",
    )
    format: str | None = Field(
        None,
        pattern=r"^[a-z0-9_,]+$",
        description="Force an FFmpeg input format (e.g. 'mjpeg', 'v4l2'); normally detected.",
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url_scheme(url)
        if scheme and scheme not in (*SCHEMES, SAMPLE_PREFIX.rstrip(":")):
            raise ValueError(unsupported_scheme(url))
        return url

    @model_validator(mode="after")
    def _backoff_order(self) -> SourceConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s "
                f"({self.reconnect_min_s})"
            )
        return self


def is_sample(url: str) -> bool:
    """Whether a source URL names a bundled sample video (``sample:vtest``)."""
    return url.startswith(SAMPLE_PREFIX)
