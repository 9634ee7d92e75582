"""Derive the demo camera's ground-plane calibration points (bundled demo config).

The sample video (vtest) comes with no survey, so its ground plane is estimated from
what is in the picture, with a pinhole camera model:

1. People are about 1.75 m tall.  Measured on frame 0: a person standing with feet at
   image row 300 is 80 px tall (45.7 px/m), one with feet at row 230 is 72 px (41 px/m).
   For a camera over flat ground the scale falls linearly to zero at the horizon, so the
   horizon is at row 300 - 45.7 / ((45.7 - 41) / 70) = about -382 (above the picture).
2. Focal length assumed 1000 px for the 768 px wide image (a 42 degree horizontal field
   of view, usual for a fixed CCTV lens); principal point at the image centre.
3. Then tilt = atan((288 - (-382)) / 1000) = 33.8 degrees down, and the camera height
   follows from the scale at row 300: H = (300 + 382) cos^2(tilt) / 45.7 = 10.3 m.

With these, each chosen image point is projected to the ground (metres, x to the right,
y away from the camera).  Densities computed with this calibration are plausible, not
surveyed: a real site measures its points on the ground (see README, "Calibration").

Run:  python tools/demo_calibration.py   (prints the YAML calibration block)
"""

from __future__ import annotations

import math

FOCAL_PX = 1000.0
CX, CY = 384.0, 288.0
HORIZON_ROW = -382.0
SCALE_PX_PER_M_AT_300 = 45.7

TILT = math.atan((CY - HORIZON_ROW) / FOCAL_PX)
HEIGHT_M = (300.0 - HORIZON_ROW) * math.cos(TILT) ** 2 / SCALE_PX_PER_M_AT_300

IMAGE_POINTS = [(60.0, 190.0), (720.0, 190.0), (740.0, 560.0), (40.0, 560.0), (384.0, 330.0)]


def to_ground(x: float, y: float) -> tuple[float, float]:
    """Ground point (metres) seen at pixel (x, y) by the modelled camera."""
    a, b = (x - CX) / FOCAL_PX, (y - CY) / FOCAL_PX
    down = b * math.cos(TILT) + math.sin(TILT)
    if down <= 0:
        raise ValueError(f"pixel ({x}, {y}) is above the horizon")
    t = HEIGHT_M / down
    return t * a, t * (math.cos(TILT) - b * math.sin(TILT))


def main() -> None:
    print(f"# tilt {math.degrees(TILT):.1f} deg, height {HEIGHT_M:.2f} m, focal {FOCAL_PX:.0f} px")
    print("calibration:")
    print("  image_points:    [" + ", ".join(f"[{x:.0f}, {y:.0f}]" for x, y in IMAGE_POINTS) + "]")
    ground = [to_ground(x, y) for x, y in IMAGE_POINTS]
    print("  ground_points_m: [" + ", ".join(f"[{gx:.2f}, {gy:.2f}]" for gx, gy in ground) + "]")


if __name__ == "__main__":
    main()
