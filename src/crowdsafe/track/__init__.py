"""Tracking people across the frames of one camera; track ids never leave memory."""

from crowdsafe.track.bytetrack import ByteTracker, TrackerSettings, linear_assignment

__all__ = ["ByteTracker", "TrackerSettings", "linear_assignment"]
