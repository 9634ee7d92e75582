"""Sites: the ``sites:`` config, per-site totals, and their cache (issue 16, item 4).

The API over a :class:`FakeSite` (a real SQLite store and live feed; scripted cameras)
with two sites; the fleet's own API servers are tested in tests/test_fleet_api.py.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crowdsafe.api.app import create_app
from crowdsafe.api.summaries import Layouts, SummaryCache, summarise
from crowdsafe.assembly.layout import build_zones, site_groups
from crowdsafe.config import parse_config
from crowdsafe.config.sites import default_site_id
from crowdsafe.errors import ConfigError
from crowdsafe.ingest.health import StreamState
from crowdsafe.site import FakeSite, SiteGroup
from crowdsafe.store.codec import Codec
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import (
    Alert,
    AlertLevel,
    AlertRule,
    AlertState,
    LevelOfService,
    SubjectKind,
    ZoneSample,
)
from tests.authn import bearer
from tests.fleet import fleet_config_text


@pytest.mark.parametrize(
    ("sites", "camera_sites", "error"),
    [
        ("", [None, None], None),
        ("sites: [{id: north}]\n", [None, "north"], None),
        ("sites: [{id: north}, {id: south}]\n", ["north", "south"], None),
        ("sites: [{id: north}, {id: south}]\n", ["north", None], "names no site, and there are 2"),
        ("sites: [{id: north}]\n", ["west", "north"], "unknown site 'west'; the sites are: north"),
        ("", ["north", None], "unknown site 'north'; the sites are: none"),
        ("sites: [{id: north}, {id: north}]\n", [None, None], "site id 'north' is already used"),
        ("sites: [{id: North}]\n", [None, None], "sites[0].id"),
    ],
)
def test_cameras_belong_to_exactly_one_known_site(
    sites: str, camera_sites: list[str | None], error: str | None
) -> None:
    text = fleet_config_text("postgresql://h/db", cameras=2, sites=1)
    text = text.split("cameras:\n", 1)[1]
    for i, site in enumerate(camera_sites):
        text = text.replace(
            f"    site: site0\n    source:\n      url: rtsp://127.0.0.1:9/cam{i}\n",
            ("" if site is None else f"    site: {site}\n")
            + f"    source:\n      url: rtsp://127.0.0.1:9/cam{i}\n",
        )
    text = f"site: Harbour Front\n{sites}cameras:\n{text}"
    if error is not None:
        with pytest.raises(ConfigError, match=re.escape(error)):
            parse_config(text)
        return
    config = parse_config(text)
    groups = site_groups(config)
    assert sorted(c for g in groups for c in g.camera_ids) == ["cam0", "cam1"]
    if not sites:
        assert [(g.id, g.name) for g in groups] == [("harbour-front", "Harbour Front")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Harbour Front", "harbour-front"), ("  !!  ", "site"), ("A" * 100, "a" * 64)],
)
def test_the_implicit_site_is_named_after_the_config(name: str, expected: str) -> None:
    assert default_site_id(name) == expected


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[FakeSite]:
    config = parse_config(fleet_config_text("postgresql://h/db", cameras=4, sites=2))
    zones = [z for c in config.cameras for z in build_zones(c, config.thresholds)]
    store = SQLiteStore(tmp_path / "s.db")
    now = time.time()
    store.save_alert(
        Alert(
            "a1",
            AlertRule.DENSITY,
            SubjectKind.ZONE,
            "cam3-z2",
            "cam3",
            AlertLevel.WARNING,
            AlertState.ACKNOWLEDGED,
            "high",
            2.5,
            2.0,
            now,
            now,
        )
    )
    site = FakeSite(
        store=store,
        zone_list=zones,
        states={"cam2": StreamState.RECONNECTING},
        groups=[
            SiteGroup("site0", "North", ["cam0", "cam2"]),
            SiteGroup("site1", "South", ["cam1", "cam3"]),
        ],
    )
    samples = [
        ZoneSample(z.camera_id, z.id, now - 1, 2.0, 3, 50.0, 0.04 * (i + 1), los, 5)
        for i, (z, los) in enumerate(
            zip(zones, [LevelOfService.A, LevelOfService.E] * 6, strict=True)
        )
    ]
    store.write_samples(samples)
    site.feed.publish(samples)
    yield site
    store.close()


def test_site_totals_leave_out_zones_without_data_and_count_active_alerts(
    two_sites: FakeSite,
) -> None:
    app = create_app(two_sites)
    with TestClient(app, base_url="http://localhost", headers=bearer(app)) as client:
        body = client.get("/api/sites").json()
        assert body["total"] == 2 and [s["id"] for s in body["items"]] == ["site0", "site1"]
        north, south = body["items"]
        # cam2 is reconnecting: its 3 zones are no data, so 3 zones x 2.0 persons
        assert (north["cameras_ok"], north["zones_with_data"], north["persons_now"]) == (1, 3, 6.0)
        assert north["alerts_open"] == 0 and south["alerts_open"] == 1
        assert south["persons_now"] == 12.0 and south["los_worst"] == "E"
        assert south["density_max_per_m2"] == pytest.approx(0.04 * 12)
        detail = client.get("/api/sites/site1", params={"page_size": 1}).json()
        assert detail["cameras_total"] == 2 and [c["id"] for c in detail["cameras"]] == ["cam1"]
        assert [z["id"] for z in detail["zones"]] == ["cam1-z0", "cam1-z1", "cam1-z2"]
        r = client.get("/api/cameras", params={"site": "site0"})
        assert r.headers["x-total-count"] == "2"
        assert [(c["id"], c["site"]) for c in r.json()] == [("cam0", "site0"), ("cam2", "site0")]


def test_the_totals_are_refreshed_in_the_background_after_their_ttl(
    two_sites: FakeSite,
) -> None:
    cache = SummaryCache(ttl_s=0.0, stale_max_s=3600)
    first = cache.get(two_sites)
    two_sites.states["cam0"] = StreamState.FAILED
    assert cache.get(two_sites) is first  # answered at once with what it had...
    deadline = time.monotonic() + 10
    while cache.get(two_sites).sites[0].cameras_ok != 0:  # ...and refreshed meanwhile
        assert time.monotonic() < deadline, "the totals were never refreshed"
        time.sleep(0.01)
    while cache.refreshing:  # the last one done before the store closes
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stale = SummaryCache(ttl_s=0.0, stale_max_s=0.0)  # too old to serve: computed in the call
    stale.get(two_sites)
    two_sites.states["cam0"] = StreamState.LIVE
    assert stale.get(two_sites).sites[0].cameras_ok == 1


def test_a_zone_whose_latest_fields_do_not_read_is_left_out_of_its_sites_totals(
    two_sites: FakeSite, caplog: pytest.LogCaptureFixture
) -> None:
    layouts = Layouts()
    before = {s.id: s for s in summarise(two_sites, layouts=layouts).sites}
    bad = ZoneSample("cam1", "cam1-z0", time.time(), 2.0, 3, 50.0, 0.04, LevelOfService.A, 5)
    row = [*Codec(ZoneSample, native_bool=True).row(bad)]
    row[Codec(ZoneSample).names.index("los")] = "Z"  # a level no version has
    two_sites.feed.publish_rows([row], Codec(ZoneSample).names, lambda r: bad)
    with caplog.at_level(logging.WARNING):
        after = {s.id: s for s in summarise(two_sites, layouts=layouts).sites}
    assert "site site1: 1 zones' latest samples do not read" in caplog.text
    assert after["site0"] == before["site0"]
    south = after["site1"]
    assert south.persons_now == before["site1"].persons_now - 2.0  # the bad zone left out
    assert south.zones_with_data == before["site1"].zones_with_data  # it is still fresh
    assert south.los_worst == LevelOfService.E


def test_the_layout_is_made_again_when_the_zones_change(two_sites: FakeSite) -> None:
    layouts = Layouts()
    zones = two_sites.zones()
    first = layouts.get(two_sites.site_groups(), zones, [])
    assert layouts.get(two_sites.site_groups(), two_sites.zones(), []) is first
    fewer = layouts.get(two_sites.site_groups(), zones[:-1], [])
    assert fewer is not first and len(fewer.zone_ids["site1"]) == len(first.zone_ids["site1"]) - 1
    assert layouts.get(two_sites.site_groups(), zones, []) is not fewer
    # as many zones, other objects (a camera replaced by one like it): compared without
    # == (a zone's polygon is a numpy array), and the layout made again from them
    copies = [dataclasses.replace(z) for z in zones]
    again = layouts.get(two_sites.site_groups(), copies, [])
    assert again.zones[0] is copies[0]
