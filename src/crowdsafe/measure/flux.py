"""Flow through a counting line without tracks: the crowd's flux across it.

In a dense crowd tracks break, and counting crossings track by track fails exactly where
the flow matters.  Flux needs no track: the number of people crossing a line of length
``L`` per second is the density next to it times their velocity normal to it, times
``L`` (the specific flow of pedestrian dynamics, persons per metre per second, is
density times normal velocity).  Measured on a band of half-width ``b`` either side of
the line, the density is ``n / (2 b L)`` for the ``n`` people whose feet are in the band,
so the crossings in a time ``dt`` are ``sum(v_n) dt / (2 b)``: each person in the band
contributes their normal speed over the band's width.  People moving to the line's
"in" side (:class:`~crowdsafe.measure.lines.CountingLine`'s convention) add to "in",
the others to "out".  Summed over a line's frames this estimates its crossings; it is a
fractional count, exact on average, never a count of anyone.

The band and the velocities live on one plane: the ground (metres, through the camera's
calibration) in a deployment, or the image itself (pixels) where no calibration exists,
as for the annotated MOT sequences.  The people's velocities come from
:mod:`crowdsafe.measure.motion`; nothing about them is kept after the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.motion import ground_jacobians

__all__ = ["FluxCounter", "FluxLine"]


@dataclass(frozen=True)
class FluxLine:
    """One line on the plane: from ``start`` along the unit ``direction`` for
    ``length``; ``normal`` (unit) points to its "in" side."""

    id: str
    start: npt.NDArray[np.float64]
    direction: npt.NDArray[np.float64]
    normal: npt.NDArray[np.float64]
    length: float

    @classmethod
    def of(cls, line: CountingLine, homography: Homography | None) -> FluxLine:
        """``line`` (image pixels) on the ground through ``homography``, or on the image
        when it is None.  The "in" side is found in the image, where it is defined, and
        carried over: a homography may mirror the plane."""
        p1 = np.asarray(line.p1, dtype=np.float64)
        p2 = np.asarray(line.p2, dtype=np.float64)
        d = p2 - p1
        in_side = (p1 + p2) / 2 + np.array([d[1], -d[0]]) / np.hypot(*d)  # a pixel in
        if homography is not None:
            a, b, inside = homography.to_ground(np.stack([p1, p2, in_side]))
        else:
            a, b, inside = p1, p2, in_side
        length = float(np.hypot(*(b - a)))
        if not length > 0:
            raise ValueError(f"line {line.id!r} has no length on the plane")
        direction = (b - a) / length
        normal = np.array([-direction[1], direction[0]])
        if float(np.dot(inside - a, normal)) < 0:
            normal = -normal
        return cls(line.id, a, direction, normal, length)


class FluxCounter:
    """Running track-free crossings of lines (module docstring): :meth:`add` each
    analysed frame's people, read :attr:`crossings`.  ``band`` is the half-width of the
    band on each side of a line, in the plane's units (metres on the ground, pixels on
    the image): wide enough that a person cannot step over it between two analysed
    frames, narrow enough to be the density at the line."""

    def __init__(
        self,
        lines: Sequence[CountingLine],
        *,
        band: float,
        homography: Homography | None = None,
    ) -> None:
        if not band > 0:
            raise ValueError(f"band must be > 0, got {band}")
        self.band = band
        self.homography = homography
        self.lines = [FluxLine.of(ln, homography) for ln in lines]
        self.crossings: dict[str, list[float]] = {ln.id: [0.0, 0.0] for ln in self.lines}
        """Each line's [in, out] crossings so far (fractional)."""

    def reset(self) -> None:
        """Start counting afresh."""
        for pair in self.crossings.values():
            pair[0] = pair[1] = 0.0

    def add(
        self,
        feet_px: npt.NDArray[np.float64],
        velocity_px_s: npt.NDArray[np.float64],
        dt_s: float,
    ) -> dict[str, tuple[float, float]]:
        """Add one frame: (N, 2) image points under the people's feet and their (N, 2)
        image velocities (pixels per second) over the ``dt_s`` seconds the frame stands
        for.  Returns each line's (in, out) crossings of this frame."""
        if self.homography is not None and len(feet_px):
            points = self.homography.to_ground(feet_px)
            jac = ground_jacobians(self.homography, feet_px)
            velocity = np.einsum("nij,nj->ni", jac, velocity_px_s)
        else:
            points, velocity = feet_px, velocity_px_s
        out = {}
        for ln in self.lines:
            if not len(points):
                out[ln.id] = (0.0, 0.0)
                continue
            rel = points - ln.start
            across = rel @ ln.normal
            along = rel @ ln.direction
            near = (np.abs(across) <= self.band) & (along >= 0) & (along <= ln.length)
            v_n = velocity[near] @ ln.normal
            scale = dt_s / (2 * self.band)
            got_in = float(v_n[v_n > 0].sum()) * scale
            got_out = float(-v_n[v_n < 0].sum()) * scale
            pair = self.crossings[ln.id]
            pair[0] += got_in
            pair[1] += got_out
            out[ln.id] = (got_in, got_out)
        return out
