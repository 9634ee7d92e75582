"""The ``sites:`` section: cameras grouped into sites (a stadium, a station, a district).

A city dashboard lists sites with their totals and drills down into one; each camera
belongs to exactly one site (``cameras[].site``).  A config without ``sites:`` is one
site, named after the config's ``site`` name, holding every camera, so a single-site
deployment reads exactly as before.  With several sites every camera must name its
own: a camera silently put into the first site would add its people to the wrong
stadium's total.
"""

from __future__ import annotations

import re

from pydantic import Field

from crowdsafe.config.camera import Identifier
from crowdsafe.strict import StrictModel

__all__ = ["SiteConfig", "default_site_id"]


class SiteConfig(StrictModel):
    """One site: an id the API and ``cameras[].site`` use, a name the dashboard shows."""

    id: Identifier
    name: str = Field("", max_length=120, description="Name shown on the dashboard.")

    @property
    def display_name(self) -> str:
        return self.name or self.id


def default_site_id(name: str) -> str:
    """The id of the one implicit site of a config without ``sites:``: its name in
    lower case, runs of other characters as '-', at most 64 characters ('site' if
    nothing is left)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-_")[:64].strip("-_")
    return slug or "site"
