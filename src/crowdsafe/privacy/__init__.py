"""Anonymisation: every pixel that leaves crowdsafe is blurred first."""

from crowdsafe.privacy.anonymise import head_regions, pixelate_regions

__all__ = ["head_regions", "pixelate_regions"]
