"""SIMULATION ONLY: the config of ``crowdsafe fleet simulate``'s synthetic city.

``cameras`` cameras (``sim0``...) of ``zones`` zones each (``sim0-z0``...: side-by-side
strips of the 768x576 frame, convex, as :class:`~crowdsafe.cluster.synthetic.
ScriptedCrowdDetector` needs), grouped into sites of ``cameras_per_site``
(``district0``...), analysed once a second into 1-s buckets, over PostgreSQL with the
live feed notified (``storage.notify``), on a Ray cluster whose every node is taken to
hold all the cameras it is given (the simulation measures the fleet, not the detector).
Each camera's source is an RTSP address that nothing serves and nothing opens.
"""

from __future__ import annotations

import json

__all__ = ["simulation_config_text"]

_CALIBRATION = (
    "    calibration:\n"
    "      image_points: [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]]\n"
    "      ground_points_m: [[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], "
    "[0.0, 14.06]]\n"
)


def simulation_config_text(
    dsn: str,
    cameras: int,
    *,
    zones: int = 3,
    cameras_per_site: int = 100,
    namespace: str = "crowdsafe-sim",
    rebalance_interval_s: float = 1.0,
    worker_timeout_s: float = 60.0,
) -> str:
    """The YAML text of the simulation's config (module docstring)."""
    width = 768 // zones
    sites = max(1, -(-cameras // cameras_per_site))
    out = ["site: Simulated city\nsites:\n"]
    out += [f"  - {{id: district{s}, name: District {s}}}\n" for s in range(sites)]
    out.append("cameras:\n")
    for i in range(cameras):
        cid = f"sim{i}"
        out.append(
            f"  - id: {cid}\n    site: district{i // cameras_per_site}\n"
            f"    source: {{url: 'rtsp://127.0.0.1:9/{cid}'}}\n    analysis_fps: 1\n"
            # counted from the scripted boxes alone: no density model runs, and the
            # blank frames have no motion to follow
            "    density: {method: detection}\n    motion: {enabled: false}\n"
        )
        out.append(_CALIBRATION)
        out.append("    zones:\n")
        for j in range(zones):
            x0, x1 = j * width, (j + 1) * width
            out.append(
                f"      - {{id: {cid}-z{j}, polygon: [[{x0}, 200], [{x1}, 200], "
                f"[{x1}, 576], [{x0}, 576]]}}\n"
            )
    out.append(
        "storage:\n  backend: postgresql\n"
        f"  dsn: {json.dumps(dsn)}\n  bucket_s: 1.0\n  notify: true\n"
        "cluster:\n"
        f"  namespace: {namespace}\n"
        f"  rebalance_interval_s: {rebalance_interval_s}\n"
        # a removed node is found by Ray's health checks (about 3 s here); a worker that
        # only answers late under overload must not have its cameras moved while it still
        # runs them (at 10 s, 8,000 cameras on 2 cores did: two writers for 2,184 buckets)
        f"  worker_timeout_s: {worker_timeout_s}\n"
        "  status_interval_s: 5.0\n"
        # a camera is all but free here: every node holds its share of the city
        "  cost: {default_cores_per_camera: 0.0001}\n"
    )
    return "".join(out)
