"""crowdsafe: live, anonymous crowd-safety numbers from CCTV video.

crowdsafe counts people; it never looks at who they are (see README and
docs/adr/0001-aggregates-only.md).
"""

from crowdsafe.errors import CrowdsafeError
from crowdsafe.types import Detections, Frame, LevelOfService, ZoneSample

__version__ = "0.1.0"

__all__ = ["CrowdsafeError", "Detections", "Frame", "LevelOfService", "ZoneSample", "__version__"]
