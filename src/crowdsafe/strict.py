"""The base of every config section: strict, frozen, and picked by kind where pluggable.

Every section of the one YAML config tree derives from :class:`StrictModel`:

* ``extra="forbid"``: a misspelt key is an error, never a silent default (``fps_limit``
  where ``analysis_fps`` was meant would otherwise analyse at the default rate);
* ``frozen=True``: a loaded config is a value; a stage cannot change a setting another
  stage reads;
* ``allow_inf_nan=False``: YAML reads ``.nan`` and ``.inf`` as floats, and every bound
  (``ge``, ``le``) is silent about NaN, so a zone vertex or a threshold of NaN would load
  and turn every comparison made with it false; no setting is meaningful as one;
* ``hide_input_in_errors=True``: a source URL may carry a password, and a raw
  ValidationError (in a traceback, a log) would otherwise quote it.

A section that chooses an implementation (the detector, the store) is a discriminated
union on one key (``kind``, ``backend``): each implementation is one model class with a
``Literal`` for that key, and adding an implementation is adding its class to the union.
:func:`default_tag` lets a config that names no implementation keep loading as the
default one.

This module sits below every stage package and the :mod:`crowdsafe.config` package, so
that a stage (``alerts/``, ``forecast/``) can define its own section without importing
the config package: stages never import ``crowdsafe.config``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["LosLetter", "StrictModel", "default_tag"]

# A level of service as written in a config (alert levels, staffing uplift by level).
LosLetter = Literal["A", "B", "C", "D", "E", "F"]


class StrictModel(BaseModel):
    """A config section: unknown keys and non-finite numbers are refused, and a loaded
    value never changes."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, hide_input_in_errors=True
    )


def default_tag(key: str, default: str) -> BeforeValidator:
    """A validator for a discriminated section that fills in ``key: default`` when a
    mapping leaves ``key`` out, so configs written before the section had kinds keep
    loading.  Put it after ``Field(discriminator=key)`` in the ``Annotated``::

        DetectorSection = Annotated[
            NanoDetConfig, Field(discriminator="kind"), default_tag("kind", "nanodet")
        ]

    Anything but a mapping (a model instance, a wrong type) passes through unchanged, to
    be accepted or refused by the union itself.
    """

    def fill(value: Any) -> Any:
        if isinstance(value, dict) and key not in value:
            return {key: default, **value}
        return value

    return BeforeValidator(fill)
