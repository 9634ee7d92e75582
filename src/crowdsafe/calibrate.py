"""``crowdsafe calibrate``: fit a camera's ground plane and show whether it is right.

The report gives each calibration point's reprojection error in metres (where the fitted
plane puts the point versus where it was measured) and the overall RMS; the check image
draws a 1 m grid on the ground, the zones and lines and the calibration points over a
frame of the camera, with the live view's drawing functions (``overlay.py``) and the
zones and lines the runtime builds (``assembly``).  A grid that does not look square,
or lines that do not follow the paving, means a point was measured wrong.  Faces and the
heads of the frame's people are pixelated before anything is drawn or written: no raw
pixels leave the tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.assembly import address_for, build_anonymiser, build_zones, counting_lines
from crowdsafe.config import CrowdsafeConfig
from crowdsafe.detect.base import Detector
from crowdsafe.errors import SourceUnreadable
from crowdsafe.ingest.url import SourceAddress, SourceKind
from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.overlay import draw_calibration_points, draw_ground_grid, draw_layout
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.types import Detections, Frame

__all__ = ["CalibrationReport", "calibrate", "draw_check_image", "grab_frame"]


@dataclass(frozen=True)
class CalibrationReport:
    camera_id: str
    points: int
    errors_m: list[float]
    rms_error_m: float
    max_error_m: float
    check_image: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "camera_id": self.camera_id,
            "points": self.points,
            "errors_m": [round(e, 4) for e in self.errors_m],
            "rms_error_m": round(self.rms_error_m, 4),
            "max_error_m": round(self.max_error_m, 4),
            "check_image": self.check_image,
        }


def grab_frame(
    address: SourceAddress, index: int = 0, timeout_s: float = 10.0
) -> npt.NDArray[np.uint8]:
    """Frame ``index`` of a camera's source (RGB), for the check image."""
    if address.kind is SourceKind.FOLDER:
        files = sorted(
            p for p in Path(address.url).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        if not files:
            raise SourceUnreadable(f"no images in {address.display}")
        image = cv2.imread(str(files[min(index, len(files) - 1)]))
        if image is None:
            raise SourceUnreadable(f"cannot read an image in {address.display}")
        return cast("npt.NDArray[np.uint8]", image[:, :, ::-1].copy())
    try:
        with av.open(
            address.url,
            format="v4l2" if address.kind is SourceKind.DEVICE else None,
            timeout=(timeout_s, timeout_s),
        ) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i >= index:
                    return cast("npt.NDArray[np.uint8]", frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnreadable(
            f"cannot read a frame from {address.display}: {address.scrub(str(exc))}"
        ) from None
    raise SourceUnreadable(f"{address.display} has fewer than {index + 1} frames")


def draw_check_image(
    image: npt.NDArray[np.uint8],
    zones: Sequence[Zone],
    lines: Sequence[CountingLine],
    hom: Homography,
    people: Detections | None,
    anonymiser: Anonymiser,
) -> npt.NDArray[np.uint8]:
    """The frame with heads pixelated, a 1 m ground grid, zones, lines and the points.

    ``people`` are the detector's boxes in ``image`` (None when no detector was run:
    then only faces the face model finds are pixelated)."""
    # The same anonymiser as the live view: faces and head zones, before any drawing.
    out = anonymiser.anonymise(image, people if people is not None else Detections())
    out = draw_ground_grid(out, hom)
    out = draw_layout(out, zones, lines, labels=True)
    return draw_calibration_points(out, hom)


def calibrate(
    config: CrowdsafeConfig,
    camera_id: str,
    *,
    out: Path | None,
    detector: Detector | None,
    frame_index: int = 0,
    address: SourceAddress | None = None,
) -> CalibrationReport:
    """Fit, report and (with ``out``) write the check image of one camera."""
    try:
        camera = config.camera(camera_id)
    except KeyError:
        known = ", ".join(c.id for c in config.cameras)
        raise KeyError(f"unknown camera '{camera_id}'; the config has: {known}") from None
    hom = camera.calibration.homography()
    errors = hom.reprojection_errors_m()
    written = None
    if out is not None:
        image = grab_frame(address or address_for(camera, config), frame_index)
        people = detector.detect(Frame(camera.id, 0.0, image)) if detector is not None else None
        check = draw_check_image(
            image,
            build_zones(camera, config.thresholds),
            counting_lines(camera),
            hom,
            people,
            build_anonymiser(config, faces=True),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), check[:, :, ::-1]):
            raise OSError(f"cannot write the check image to {out}")
        written = str(out)
    return CalibrationReport(
        camera_id=camera.id,
        points=len(errors),
        errors_m=[float(e) for e in errors],
        rms_error_m=float(np.sqrt(np.mean(errors**2))),
        max_error_m=float(errors.max()),
        check_image=written,
    )
