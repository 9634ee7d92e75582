"""A fleet's config for tests and the sites benchmark: many cameras, a few sites.

Every camera has the test calibration (``tests/conftest.py``) and ``zones`` zones side by
side; its source is an RTSP address nothing serves, which an API server never opens.
"""

from __future__ import annotations

__all__ = ["SCHEMA_SQL", "fleet_config_text"]

# The fleet's tables as agreed for issue 16 (the fleet core's Alembic revision 0003
# makes them; IF NOT EXISTS so that a database it has migrated is left as it is).
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS camera_placements (
    camera_id text PRIMARY KEY, node_id text NOT NULL, worker text NOT NULL,
    assigned_at double precision NOT NULL, moves integer NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS camera_status (
    camera_id text PRIMARY KEY, node_id text NOT NULL, state text NOT NULL,
    analysed_fps double precision NOT NULL, last_frame_at double precision,
    updated_at double precision NOT NULL);
"""

_CAMERA = """\
  - id: {cid}
    site: {site}
    source:
      url: rtsp://127.0.0.1:9/{cid}
    calibration:
      image_points:    [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]]
      ground_points_m: [[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]]
    zones:
{zones}"""

_ZONE = "      - {{id: {zid}, polygon: [[{x0}, 200], [{x1}, 200], [{x1}, 576], [{x0}, 576]]}}\n"


def fleet_config_text(dsn: str, cameras: int, sites: int, zones: int = 3) -> str:
    """A config of ``cameras`` cameras (``cam0``...) spread evenly over ``sites`` sites
    (``site0``...), each with ``zones`` zones (``cam0-z0``...), over PostgreSQL ``dsn``."""
    width = 768 // zones
    out = ["site: City\nsites:\n"]
    out += [f"  - {{id: site{s}, name: Site {s}}}\n" for s in range(sites)]
    out.append("cameras:\n")
    for i in range(cameras):
        cid = f"cam{i}"
        zone_text = "".join(
            _ZONE.format(zid=f"{cid}-z{j}", x0=j * width, x1=(j + 1) * width) for j in range(zones)
        )
        out.append(_CAMERA.format(cid=cid, site=f"site{i % sites}", zones=zone_text))
    out.append(f"storage:\n  backend: postgresql\n  dsn: '{dsn}'\n")
    return "".join(out)
