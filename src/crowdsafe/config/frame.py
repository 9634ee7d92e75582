"""Whether a camera's zones and lines lie inside its frame.

A vertex outside the picture is a drawing made for another camera or another resolution
(a zone drawn on a 1920x1080 still, a camera that now streams 768x576): the zone still
loads, but the part outside is never seen, so its density is counted over ground that
no pixel covers.  The check runs at load when the camera's ``frame_size_px`` is set, and
in ``crowdsafe check`` against the size probed from the source.  Pixel coordinates run
from 0 to the width and height inclusive, so a zone drawn to the frame's edge is inside.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crowdsafe.config.camera import LineConfig, ZoneConfig

__all__ = ["FramePx", "outside_frame"]

FramePx = tuple[int, int]
"""A frame's (width, height) in pixels."""


def outside_frame(
    zones: Sequence[ZoneConfig], lines: Sequence[LineConfig], frame_px: FramePx
) -> Iterator[tuple[tuple[int | str, ...], str]]:
    """(key path below the camera, message) of every zone vertex and line end outside a
    ``frame_px`` frame, zones first, in the order of the config."""
    width, height = frame_px

    def inside(x: float, y: float) -> bool:
        return 0 <= x <= width and 0 <= y <= height

    for j, zone in enumerate(zones):
        for k, (x, y) in enumerate(zone.polygon):
            if not inside(x, y):
                yield (
                    ("zones", j, "polygon", k),
                    f"zone '{zone.id}': vertex ({x:g}, {y:g}) lies outside the "
                    f"{width}x{height} frame",
                )
    for j, line in enumerate(lines):
        for k, (x, y) in enumerate(line.points):
            if not inside(x, y):
                yield (
                    ("lines", j, "points", k),
                    f"line '{line.id}': end ({x:g}, {y:g}) lies outside the {width}x{height} frame",
                )
