"""Crowd pressure and the fundamental diagram: what a crowd does before it becomes
dangerous, from the velocities of :mod:`crowdsafe.measure.motion`.

**Crowd pressure** (Helbing, Johansson and Al-Abideen, "Dynamics of crowd disasters: an
empirical study", Phys. Rev. E 75, 046109, 2007) is the local density times the local
velocity variance, ``P(x, t) = rho(x, t) Var_t(V(x, t))``: ``V`` is the mean velocity of
the people at ``x`` at each moment and ``Var_t`` its variance over a short window, so a
crowd that flows steadily, however fast and in whatever direction, has none, and one whose
local motion keeps changing (stop-and-go waves, then turbulence) has much.  In the 2006
Jamarat video, turbulence, and the crushes with it, began where the pressure passed about
0.02 s^-2.  :class:`PressureGrid` measures it on square ground cells of ``cell_m`` metres
inside one zone, over the last ``window_s`` seconds, and reports the largest cell's.

The density of a cell is its detected people over its area, corrected by the detector's
measured precision and recall as a zone's density is.  A cell counts only while someone
was found in it for at least ``min_frames`` frames of the window (a variance of one frame
is no variance) and its mean density over the window is at least ``min_density``
(2 persons/m²): in a sparse crowd the people passing a cell walk at their own speeds,
and their differences, not any coupling of their motion, would make its variance (free
walkers' speeds spread by about 0.26 m/s, which at 0.3 persons/m² already gives 0.02).

**The fundamental diagram** (Weidmann 1993, the walking speed a crowd of a given density
keeps on the level: ``v(rho) = v0 (1 - exp(-gamma (1/rho - 1/rho_max)))``, v0 1.34 m/s,
gamma 1.913 persons/m², rho_max 5.4 persons/m²): :func:`weidmann_speed`.  A walkway zone
whose people move much slower than its density explains is held up by something the
density does not show (a blocked exit, a queue forming where none should be).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

from crowdsafe.measure.geometry import points_in_polygon

__all__ = [
    "DEFAULT_CELL_M",
    "DEFAULT_WINDOW_S",
    "PressureGrid",
    "weidmann_speed",
]

DEFAULT_CELL_M = 2.0
"""Side of a ground cell, metres (the heat map's cells are no smaller)."""
DEFAULT_WINDOW_S = 10.0
"""Seconds over which a cell's velocity variance is taken."""

_V0, _GAMMA, _RHO_MAX = 1.34, 1.913, 5.4  # Weidmann (1993)


def weidmann_speed(density_per_m2: float) -> float:
    """Walking speed (m/s) Weidmann's fundamental diagram gives at ``density_per_m2``:
    1.34 m/s in a free crowd, 0 at 5.4 persons/m² and above."""
    if density_per_m2 <= 0:
        return _V0
    if density_per_m2 >= _RHO_MAX:
        return 0.0
    return _V0 * (1.0 - math.exp(-_GAMMA * (1.0 / density_per_m2 - 1.0 / _RHO_MAX)))


class PressureGrid:
    """Crowd pressure on the ground cells of one zone (module docstring).  ``polygon_m``
    is the zone's outline on the ground (metres); a cell belongs to the zone when its
    centre is inside it.  ``weight`` is what one detected person counts for (precision
    over recall)."""

    def __init__(
        self,
        polygon_m: npt.ArrayLike,
        *,
        cell_m: float = DEFAULT_CELL_M,
        window_s: float = DEFAULT_WINDOW_S,
        weight: float = 1.0,
        min_frames: int = 3,
        min_density: float = 2.0,
    ) -> None:
        if not cell_m > 0 or not window_s > 0 or not weight > 0:
            raise ValueError(
                f"cell_m, window_s and weight must be > 0, got {cell_m}, {window_s}, {weight}"
            )
        poly = np.asarray(polygon_m, dtype=np.float64).reshape(-1, 2)
        self.cell_m = cell_m
        self.window_s = window_s
        self.weight = weight
        self.min_frames = min_frames
        self.min_density = min_density
        self.origin = poly.min(axis=0)
        shape = np.maximum(1, np.ceil((poly.max(axis=0) - self.origin) / cell_m)).astype(int)
        self.shape = (int(shape[0]), int(shape[1]))
        cx, cy = np.meshgrid(np.arange(self.shape[0]), np.arange(self.shape[1]), indexing="ij")
        centres = self.origin + (np.stack([cx.ravel(), cy.ravel()], axis=1) + 0.5) * cell_m
        self.inside = points_in_polygon(centres, poly).reshape(self.shape)
        # per frame: (t, cell index of each person, velocities)
        self._frames: deque[tuple[float, npt.NDArray[np.intp], npt.NDArray[np.float64]]] = deque()

    def reset(self) -> None:
        self._frames.clear()

    def add(
        self, t: float, points_m: npt.NDArray[np.float64], velocity_m_s: npt.NDArray[np.float64]
    ) -> None:
        """One frame's people of this zone: (N, 2) ground points and velocities."""
        ij = np.floor((points_m - self.origin) / self.cell_m).astype(np.intp)
        ok = (ij[:, 0] >= 0) & (ij[:, 0] < self.shape[0]) & (ij[:, 1] >= 0)
        ok &= ij[:, 1] < self.shape[1]
        ij, v = ij[ok], velocity_m_s[ok]
        cells = ij[:, 0] * self.shape[1] + ij[:, 1]
        self._frames.append((t, cells, v))
        while self._frames and self._frames[0][0] <= t - self.window_s:
            self._frames.popleft()

    def pressure(self) -> float | None:
        """The largest cell pressure over the window (s^-2): 0 where no cell is dense
        enough to have one, None until a cell has been occupied for ``min_frames``
        frames."""
        if not self._frames:
            return None
        n_cells = self.shape[0] * self.shape[1]
        frames = len(self._frames)
        occupied = np.zeros(n_cells)  # frames a cell had someone
        people = np.zeros(n_cells)  # people summed over frames
        mean_v: list[npt.NDArray[np.float64]] = []
        cells_of: list[npt.NDArray[np.intp]] = []
        for _, cells, v in self._frames:
            if not len(cells):
                mean_v.append(np.zeros((0, 2)))
                cells_of.append(cells)
                continue
            count = np.bincount(cells, minlength=n_cells).astype(np.float64)
            sx = np.bincount(cells, weights=v[:, 0], minlength=n_cells)
            sy = np.bincount(cells, weights=v[:, 1], minlength=n_cells)
            here = np.flatnonzero(count)
            occupied[here] += 1
            people += count
            mean_v.append(np.stack([sx[here] / count[here], sy[here] / count[here]], axis=1))
            cells_of.append(here)
        # the variance over time of each cell's mean velocity, over its occupied frames
        s1 = np.zeros((n_cells, 2))
        s2 = np.zeros(n_cells)
        for here, mv in zip(cells_of, mean_v, strict=True):
            s1[here] += mv
            s2[here] += (mv * mv).sum(axis=1)
        density = people * self.weight / frames / (self.cell_m * self.cell_m)
        usable = (occupied >= self.min_frames) & self.inside.ravel()
        usable &= density >= self.min_density
        if not usable.any():
            return None if not (occupied >= self.min_frames).any() else 0.0
        k = occupied[usable]
        mean = s1[usable] / k[:, None]
        var = np.maximum(0.0, s2[usable] / k - (mean * mean).sum(axis=1))
        return float((density[usable] * var).max())
