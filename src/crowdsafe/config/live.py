"""The ``live_view_limits:`` section: what the anonymised live view may cost.

However many dashboards watch a camera, its live image is anonymised and encoded at most
``max_fps`` times a second, on one low-priority worker (``crowdsafe.livecache``), and at
most ``max_requests`` live-view requests are served at once; more are answered 429 with
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
