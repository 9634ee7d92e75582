"""``crowdsafe calibrate``: fit a camera's ground plane and show whether it is right.

The report gives each calibration point's reprojection error in metres (where the fitted
plane puts the point versus where it was measured) and the overall RMS; the check image
draws a 1 m grid on the ground, the zones and lines and the calibration points over a
frame of the camera.  A grid that does not look square, or lines that do not follow the
paving, means a point was measured wrong.  The frame's people have their heads
pixelated before the image is written: no raw pixels leave the tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.config import CameraConfig, CrowdsafeConfig
from crowdsafe.detect.base import Detector
from crowdsafe.errors import SourceUnreadable
from crowdsafe.ingest.url import SourceAddress, SourceKind
from crowdsafe.measure.geometry import Homography
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.privacy.faces import FaceFinder

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


def _ground_grid(
    hom: Homography, width: int, height: int, step_m: float = 1.0
) -> list[npt.NDArray[np.float64]]:
    """Polylines (image px) of a ground grid every ``step_m`` metres over the visible ground."""
    ys, xs = np.mgrid[0:height:8, 0:width:8]
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    pix = pix[hom.in_front(pix)]
    if pix.size == 0:
        return []
    ground = hom.to_ground(pix)
    lo, hi = np.percentile(ground, 1, axis=0), np.percentile(ground, 99, axis=0)
    inverse = np.linalg.inv(hom.matrix)
    lines = []
    for axis in (0, 1):
        for v in np.arange(np.floor(lo[axis]), np.ceil(hi[axis]) + step_m, step_m):
            other = np.linspace(lo[1 - axis], hi[1 - axis], 200)
            pts = np.empty((other.size, 2))
            pts[:, axis], pts[:, 1 - axis] = v, other
            homog = np.c_[pts, np.ones(len(pts))] @ inverse.T
            ok = homog[:, 2] * np.sign(inverse[2, 2] or 1) > 0
            img = homog[:, :2] / homog[:, 2:3]
            inside = (
                ok
                & (img[:, 0] > -50)
                & (img[:, 0] < width + 50)
                & (img[:, 1] > -50)
                & (img[:, 1] < height + 50)
            )
            if inside.sum() >= 2:
                lines.append(img[inside])
    return lines


def draw_check_image(
    image: npt.NDArray[np.uint8], camera: CameraConfig, hom: Homography, detector: Detector | None
) -> npt.NDArray[np.uint8]:
    """The frame with heads pixelated, a 1 m ground grid, zones, lines and the points."""
    from crowdsafe.types import Frame

    h, w = image.shape[:2]
    out = image
    if detector is not None:
        # The same anonymiser as the live view: faces and head zones, before any drawing.
        people = detector.detect(Frame(camera.id, 0.0, image))
        out = Anonymiser(FaceFinder()).anonymise(image, people)
    bgr = np.ascontiguousarray(out[:, :, ::-1])
    for poly in _ground_grid(hom, w, h):
        cv2.polylines(bgr, [poly.astype(np.int32)], False, (0, 255, 255), 1, cv2.LINE_AA)
    for zone in camera.zones:
        pts = np.asarray(zone.polygon, dtype=np.int32)
        cv2.polylines(bgr, [pts], True, (60, 220, 60), 2, cv2.LINE_AA)
        cv2.putText(
            bgr,
            zone.display_name,
            tuple(int(v) for v in np.add(pts.min(axis=0), (4, 16))),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (60, 220, 60),
            1,
            cv2.LINE_AA,
        )
    for line in camera.lines:
        (x1, y1), (x2, y2) = line.points
        cv2.arrowedLine(
            bgr,
            (int(x1), int(y1)),
            (int(x2), int(y2)),
            (255, 120, 0),
            2,
            cv2.LINE_AA,
            tipLength=0.05,
        )
    errors = hom.reprojection_errors_m()
    for (x, y), err in zip(hom.image_points, errors, strict=True):
        cv2.circle(bgr, (int(x), int(y)), 5, (0, 0, 255), 2)
        cv2.putText(
            bgr,
            f"{err * 100:.0f} cm",
            (int(x) + 7, int(y) - 7),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 0, 255),
            1,
            cv2.LINE_AA,
        )
    return bgr[:, :, ::-1].copy()


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
        from crowdsafe.runtime import address_for

        image = grab_frame(address or address_for(camera, config), frame_index)
        check = draw_check_image(image, camera, hom, detector)
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
