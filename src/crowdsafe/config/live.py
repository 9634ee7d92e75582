"""The ``live_view_limits:`` section: what the anonymised live view may cost.

However many dashboards watch a camera, its live image is anonymised and encoded at most
once per analysed frame and ``max_fps`` times a second, on one low-priority worker
(``crowdsafe.livecache``) that is busy at most ``max_busy`` of the time, and at most
``max_requests`` live-view requests are served at once; more are answered 429 with
``Retry-After``.  The analysis a site relies on for its safety numbers keeps its rate
(``crowdsafe bench live`` measures it).
"""

from __future__ import annotations

from pydantic import Field

from crowdsafe.strict import StrictModel

__all__ = ["LiveViewLimits"]


class LiveViewLimits(StrictModel):
    max_fps: float = Field(
        5.0,
        gt=0.0,
        le=30.0,
        description="Each camera's live image is remade at most this often (per second); "
        "viewers asking more often share the last one.",
    )
    max_busy: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="Share of the time the one live-view worker may spend making images "
        "(over all cameras): after an image that took d seconds it rests "
        "d * (1 / max_busy - 1), so a loaded machine slows the live view, not the analysis.",
    )
    max_requests: int = Field(
        8,
        ge=1,
        le=256,
        description="Live-view requests served at once over all cameras; more are "
        "answered 429 with Retry-After.",
    )
    wait_s: float = Field(
        5.0,
        gt=0.0,
        le=60.0,
        description="How long a request waits for an image being made before it is "
        "answered 503 with Retry-After.",
    )
