"""Tracking people across the frames of one camera; track ids never leave memory."""

from crowdsafe.track.bytetrack import ByteTracker, linear_assignment

__all__ = ["ByteTracker", "linear_assignment"]
