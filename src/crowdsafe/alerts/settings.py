"""Configuration of alert rules and alert sinks (part of the one YAML config tree).

Defaults, and where they come from:

* density (persons/m²): advisory 2 (walking slows; top of Seoul's green band), warning 3
  (Seoul's orange band 3-4; involuntary contact from ~3.6), critical 5 (Seoul's red band
  and G. Keith Still's limit beyond which crowds become dangerous);
* flow (persons per metre of width per minute): advisory 49 (walkway LoS D), warning 66
  (LoS E), critical 82 (the UK Green Guide maximum exit flow; LoS F above it);
* level of service: advisory at E, warning at F;
* rate of rise: advisory at +0.5 persons/m² per minute, warning at +1;
* predictive: warn when a zone is projected to reach the critical density (5) within
  10 minutes;
* time to clear (minutes a zone's people need to leave through its declared exits at
  their capacity): warning at 8, the UK Green Guide's normal maximum egress time for a
  standing or seated area, advisory at 6 (three quarters of it);
* crowd pressure (density times the local velocity variance, s^-2): warning at 0.02,
  where Helbing, Johansson and Al-Abideen (Phys. Rev. E 75, 046109, 2007) saw crowd
  turbulence begin in the 2006 Jamarat crowd, advisory at half of it;
* slow for its density (1 minus a walkway zone's speed over Weidmann's at its density):
  advisory at 0.5, a crowd at half the speed its density explains, held for a minute.

A site overrides any of them under ``alerts:``; a zone or line may override the density
or flow levels for itself.

Sinks keep their place in the YAML (``sinks.webhooks``, a list; ``sinks.mqtt``, at most
one); each sink model also carries its ``kind`` (``webhook``, ``mqtt``), defaulting to
itself, so the code that builds sinks dispatches on one field as it does for detectors.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, model_validator

from crowdsafe.strict import LosLetter, StrictModel

__all__ = [
    "AlertsConfig",
    "LevelsConfig",
    "LosLevelsConfig",
    "MqttConfig",
    "PredictiveConfig",
    "SinksConfig",
    "WebhookConfig",
]


class LevelsConfig(StrictModel):
    """Thresholds of one rising quantity; a level left out (null) is not used."""

    advisory: float | None = Field(None, ge=0.0, description="Value that opens an advisory.")
    warning: float | None = Field(None, ge=0.0, description="Value that raises a warning.")
    critical: float | None = Field(None, ge=0.0, description="Value that is critical.")
    hold_s: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="Persistence: a level must hold this long before it opens or escalates, "
        "and the value must stay below the clear level this long before it resolves.",
    )
    clear_fraction: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="Hysteresis: an alert resolves below this fraction of its lowest "
        "configured level.",
    )

    @model_validator(mode="after")
    def _increasing(self) -> LevelsConfig:
        given = [v for v in (self.advisory, self.warning, self.critical) if v is not None]
        if any(b <= a for a, b in itertools.pairwise(given)):
            raise ValueError(
                f"levels must increase from advisory to critical, got advisory={self.advisory}, "
                f"warning={self.warning}, critical={self.critical}"
            )
        return self

    def thresholds(self) -> list[tuple[str, float]]:
        """(level name, threshold) for the configured levels, lowest first."""
        out = [("advisory", self.advisory), ("warning", self.warning), ("critical", self.critical)]
        return [(name, v) for name, v in out if v is not None]


class LosLevelsConfig(StrictModel):
    advisory: LosLetter | None = Field("E", description="Level of service that opens an advisory.")
    warning: LosLetter | None = Field("F", description="Level of service that raises a warning.")
    critical: LosLetter | None = Field(None, description="Level of service that is critical.")
    hold_s: float = Field(10.0, ge=0.0, le=3600.0, description="Persistence, seconds.")


class PredictiveConfig(StrictModel):
    enabled: bool = Field(True, description="Warn before a zone reaches the critical density.")
    horizon_s: float = Field(
        600.0, gt=0.0, le=7200.0, description="Warn when the critical density is this close."
    )
    window_s: float = Field(
        180.0, ge=30.0, le=3600.0, description="Recent history the trend is fitted on."
    )
    min_samples: int = Field(
        60,
        ge=5,
        le=10_000,
        description="Fewest samples to fit a trend (60 = one minute of 1 s buckets: a "
        "shorter history says little about the next ten minutes).",
    )
    min_z: float = Field(
        2.33,
        gt=0.0,
        le=10.0,
        description="Mann-Kendall z a rise must reach to count as a trend, not noise "
        "(2.33: one-sided p < 0.01).",
    )


class WebhookConfig(StrictModel):
    kind: Literal["webhook"] = Field("webhook", description="The sink this builds.")
    url: str = Field(min_length=1, description="Where alert events are POSTed as JSON.")
    secret: str | None = Field(
        None, min_length=8, description="HMAC-SHA256 key for the X-Crowdsafe-Signature header."
    )
    timeout_s: float = Field(5.0, gt=0.0, le=120.0, description="Per request.")
    max_retries: int = Field(5, ge=0, le=100, description="Retries of one delivery.")


class MqttConfig(StrictModel):
    kind: Literal["mqtt"] = Field("mqtt", description="The sink this builds.")
    host: str = Field(min_length=1, description="MQTT broker host.")
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field(
        "crowdsafe",
        pattern=r"^[A-Za-z0-9_\-/]+$",
        description="Alerts go to PREFIX/alerts, zone state to PREFIX/zones/ID/state (retained).",
    )
    username: str | None = None
    password: str | None = None
    tls: bool = False


class SinksConfig(StrictModel):
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None


def _density_default() -> LevelsConfig:
    return LevelsConfig(advisory=2.0, warning=3.0, critical=5.0)


def _flow_default() -> LevelsConfig:
    return LevelsConfig(advisory=49.0, warning=66.0, critical=82.0)


def _clear_default() -> LevelsConfig:
    return LevelsConfig(advisory=6.0, warning=8.0, critical=None, hold_s=30.0)


def _pressure_default() -> LevelsConfig:
    return LevelsConfig(advisory=0.01, warning=0.02, critical=None, hold_s=10.0)


def _slow_default() -> LevelsConfig:
    return LevelsConfig(advisory=0.5, warning=None, critical=None, hold_s=60.0)


def _rise_default() -> LevelsConfig:
    return LevelsConfig(advisory=0.5, warning=1.0, critical=None, hold_s=30.0)


class AlertsConfig(StrictModel):
    density_per_m2: LevelsConfig = Field(
        default_factory=_density_default, description="Zone density, persons/m²."
    )
    flow_per_m_min: LevelsConfig = Field(
        default_factory=_flow_default, description="Line flow, persons/m/min."
    )
    los: LosLevelsConfig = Field(
        default_factory=LosLevelsConfig, description="Zone level of service."
    )
    rise_per_m2_min: LevelsConfig = Field(
        default_factory=_rise_default,
        description="Zone density rate of rise, persons/m² per minute (robust trend).",
    )
    predictive: PredictiveConfig = Field(default_factory=PredictiveConfig)
    time_to_clear_min: LevelsConfig = Field(
        default_factory=_clear_default,
        description="Zone time to clear through its exits, minutes (zones with exits only).",
    )
    pressure_per_s2: LevelsConfig = Field(
        default_factory=_pressure_default,
        description="Zone crowd pressure, s^-2 (density times the local velocity variance).",
    )
    slow_for_density: LevelsConfig = Field(
        default_factory=_slow_default,
        description="A walkway zone's shortfall of speed against Weidmann's fundamental "
        "diagram at its density, 0-1 (1 - fd_speed_ratio).",
    )
    sinks: SinksConfig = Field(default_factory=SinksConfig)
