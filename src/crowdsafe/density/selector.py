"""Detection or density, per zone: :class:`DensityStage`.

Detection counts people one by one and gives the tracks that lines need, but misses
most of a dense crowd; the density model counts dense crowds but blurs single people
into a fraction of a person each.  Each zone therefore uses the method that suits how
crowded it is *now*:

* A zone starts on detection.  It goes to the density model when its density reaches
  ``switch_up_per_m2`` by either measure (the detection estimate, corrected for the
  detector's recall, or the density model's own), or when the density model counts
  clearly more people than detection does (``switch_up_ratio`` times as many, and at
  least ``MARGIN`` more): detection is then missing people, whether from occlusion or
  because they are too small to find, and a zone far from the camera can be in that
  state at a modest density.  A zone without a calibrated area uses the ratio alone.
  When only the density model says so, it must say so on ``confirm_runs`` consecutive
  runs (the model then runs at ``max_fps`` until it has confirmed or withdrawn), so
  one odd frame - people stepping into view half-hidden - does not switch a zone.
* It goes back to detection when the density model puts it below
  ``switch_down_per_m2`` *and* no longer counts more than ``switch_down_ratio`` times
  the detection count.  The gap between the up and down levels is the hysteresis that
  keeps a zone near the boundary from flapping between methods.
* The density model runs when a zone needs it (dense, or detection says it is getting
  dense) at most ``max_fps`` times a second, and once every ``probe_interval_s``
  while all zones are sparse, because a detector that cannot see into a crowd may
  never report it dense.  Between runs a dense zone keeps its last density count.

Lines always use tracks (detection); this chooses zone counts only.  Each zone sample
records the method that produced it (:class:`~crowdsafe.types.CountMethod`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from crowdsafe.measure.uncertainty import estimate_density
from crowdsafe.types import CountMethod, ZoneCounts

__all__ = ["DENSITY", "DETECTION", "DensityStage", "ZoneCounts"]

DETECTION = CountMethod.DETECTION
DENSITY = CountMethod.DENSITY
# Persons the density model must count above the ratio before detection is deemed to
# miss people: a few persons' disagreement is noise in a sparse zone.
MARGIN = 3.0


class _DensityModel(Protocol):
    def density(self, image_rgb: npt.NDArray[np.uint8]) -> _Map: ...


class _Map(Protocol):
    def count_in(self, mask: npt.NDArray[np.bool_]) -> float: ...


class _ZoneLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def polygon_px(self) -> npt.NDArray[np.float64]: ...
    @property
    def area_m2(self) -> float: ...
    @property
    def precision(self) -> float: ...
    @property
    def recall(self) -> float: ...


@dataclass
class DensityStage:
    model: _DensityModel
    zones: Sequence[_ZoneLike]
    method: str = "auto"
    switch_up_per_m2: float = 1.5
    switch_down_per_m2: float = 1.0
    probe_interval_s: float = 10.0
    max_fps: float = 2.0
    switch_up_ratio: float = 1.5
    switch_down_ratio: float = 1.2
    confirm_runs: int = 2
    modes: dict[str, CountMethod] = field(default_factory=dict)
    _masks: dict[tuple[int, int], dict[str, npt.NDArray[np.bool_]]] = field(default_factory=dict)
    _last_run_t: float | None = None
    _last_density: dict[str, float] = field(default_factory=dict)
    _suspect: dict[str, int] = field(default_factory=dict)  # consecutive runs saying "dense"

    def __post_init__(self) -> None:
        if self.method not in ("auto", DETECTION, DENSITY):
            raise ValueError(f"method must be auto, detection or density, got {self.method!r}")
        if not self.switch_down_per_m2 < self.switch_up_per_m2:
            raise ValueError("switch_down_per_m2 must be below switch_up_per_m2")
        if not 1.0 <= self.switch_down_ratio < self.switch_up_ratio:
            raise ValueError("need 1 <= switch_down_ratio < switch_up_ratio")
        start = DENSITY if self.method == DENSITY else DETECTION
        self.modes = {z.id: start for z in self.zones}

    def reset(self) -> None:
        """Forget the last density counts (the camera was lost); modes are kept."""
        self._last_run_t = None
        self._last_density.clear()
        self._suspect.clear()

    def _zone_masks(self, shape: tuple[int, int]) -> dict[str, npt.NDArray[np.bool_]]:
        masks = self._masks.get(shape)
        if masks is None:
            import cv2

            masks = {}
            for z in self.zones:
                m = np.zeros(shape, dtype=np.uint8)
                cv2.fillPoly(m, [np.round(z.polygon_px).astype(np.int32)], 1)
                masks[z.id] = m.astype(bool)
            self._masks[shape] = masks
        return masks

    def _detection_density(self, zone: _ZoneLike, count: float) -> float:
        if not zone.area_m2 > 0:
            return 0.0  # no calibrated area: the ratio decides alone
        est = estimate_density(
            count,
            zone.area_m2,
            precision=zone.precision,
            recall=zone.recall,
            perimeter_m=0.0,
            calibration_rms_m=0.0,
        )
        return est.density_per_m2

    def apply(
        self,
        image: npt.NDArray[np.uint8] | Callable[[], npt.NDArray[np.uint8]],
        t: float,
        detected: Mapping[str, float],
    ) -> ZoneCounts:
        """Choose each zone's count for the frame at time ``t`` (s) from the detection
        counts ``detected``, running the density model on ``image`` when it is needed.
        ``image`` may be a function that makes the full-size frame: it is called only
        when the model runs (ingest/convert.py)."""
        if self.method == DETECTION:
            return ZoneCounts.detected(dict(detected))
        det_density = {
            z.id: self._detection_density(z, detected.get(z.id, 0.0)) for z in self.zones
        }
        wants = self.method == DENSITY or any(
            self.modes[z.id] == DENSITY
            or det_density[z.id] >= self.switch_up_per_m2
            or self._suspect.get(z.id, 0) > 0
            for z in self.zones
        )
        since = None if self._last_run_t is None else t - self._last_run_t
        if wants:
            due = since is None or since < 0 or since >= 1.0 / self.max_fps - 1e-3
        else:
            due = since is None or since < 0 or since >= self.probe_interval_s
        ran = False
        if due:
            if callable(image):
                image = image()
            dmap = self.model.density(image)
            masks = self._zone_masks((int(image.shape[0]), int(image.shape[1])))
            self._last_density = {z.id: dmap.count_in(masks[z.id]) for z in self.zones}
            self._last_run_t = t
            ran = True
        counts: dict[str, float] = {}
        methods: dict[str, CountMethod] = {}
        for z in self.zones:
            model_count = self._last_density.get(z.id)
            if self.method == "auto":
                self.modes[z.id] = self._choose(
                    z,
                    self.modes[z.id],
                    det_density[z.id],
                    detected.get(z.id, 0.0),
                    model_count if ran else None,
                )
            if self.modes[z.id] == DENSITY and model_count is not None:
                counts[z.id] = model_count
                methods[z.id] = DENSITY
            else:
                counts[z.id] = float(detected.get(z.id, 0.0))
                methods[z.id] = DETECTION
        return ZoneCounts(counts, methods)

    def _choose(
        self,
        zone: _ZoneLike,
        mode: CountMethod,
        det_density: float,
        det_count: float,
        model_count: float | None,
    ) -> CountMethod:
        """The zone's next mode; ``model_count`` is None when the model did not run."""
        model_d = 0.0
        if model_count is not None and zone.area_m2 > 0:
            model_d = model_count / zone.area_m2
        if mode == DETECTION:
            if det_density >= self.switch_up_per_m2:
                self._suspect[zone.id] = 0
                return DENSITY  # detection itself sees a dense zone
            if model_count is None:
                return DETECTION
            if model_d >= self.switch_up_per_m2 or (
                model_count >= self.switch_up_ratio * det_count + MARGIN
            ):
                # the model alone: believe it once it says so on consecutive runs
                self._suspect[zone.id] = self._suspect.get(zone.id, 0) + 1
                if self._suspect[zone.id] >= self.confirm_runs:
                    self._suspect[zone.id] = 0
                    return DENSITY
            else:
                self._suspect[zone.id] = 0
            return DETECTION
        if model_count is None:
            return DENSITY
        sparse = model_d < self.switch_down_per_m2
        agrees = model_count < self.switch_down_ratio * det_count + MARGIN
        return DETECTION if sparse and agrees else DENSITY
