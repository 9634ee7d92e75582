"""Tracking people across the frames of one camera; track ids never leave memory."""

from crowdsafe.track.assignment import linear_assignment
from crowdsafe.track.bytetrack import ByteTracker, TrackerSettings

__all__ = ["ByteTracker", "TrackerSettings", "linear_assignment"]
