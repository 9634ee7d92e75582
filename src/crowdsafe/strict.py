"""The base of every config section: strict and frozen.

Every section of the one YAML config tree derives from :class:`StrictModel`:

* ``extra="forbid"``: a misspelt key is an error, never a silent default (``fps_limit``
  where ``analysis_fps`` was meant would otherwise analyse at the default rate);
* ``frozen=True``: a loaded config is a value; a stage cannot change a setting another
  stage reads.

This module sits below every stage package and the :mod:`crowdsafe.config` package, so
that a stage (``alerts/``, ``forecast/``) can define its own section without importing
the config package: stages never import ``crowdsafe.config``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["LosLetter", "StrictModel"]

# A level of service as written in a config (alert levels, staffing uplift by level).
LosLetter = Literal["A", "B", "C", "D", "E", "F"]


class StrictModel(BaseModel):
    """A config section: unknown keys are refused and a loaded value never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
