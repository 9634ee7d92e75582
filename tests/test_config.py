"""Config validation: every error names the file, the line, the key path and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crowdsafe.cli import demo_config_path
from crowdsafe.config import load_config, parse_config
from crowdsafe.config.storage import scratch_sqlite
from crowdsafe.errors import ConfigError


def test_demo_config_is_valid_and_zones_have_ground_area() -> None:
    from crowdsafe.assembly import build_zones as zones_from_config

    config = load_config(demo_config_path())
    cam = config.cameras[0]
    assert cam.source.url == "sample:vtest"
    zones = zones_from_config(cam, config.thresholds)
    assert 2 <= len(zones) <= 3
    # areas are tens of square metres, as a campus path should be
    assert all(10.0 < z.area_m2 < 200.0 for z in zones), [z.area_m2 for z in zones]
    assert cam.calibration.homography().reprojection_errors_m().max() < 0.01


def test_relative_paths_resolve_from_the_config_folder(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.resolve("data.db") == config_file.parent / "data.db"
    assert config.resolve("/abs/x.db") == Path("/abs/x.db")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"test setup: {old!r} not in the config"
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # unknown key, with its line number and parent path
        (
            "    name: Test camera\n",
            "    name: Test camera\n    fps_limit: 3\n",
            r"crowdsafe.yaml:5: cameras\[0\].fps_limit: unknown key 'fps_limit' under cameras\[0\]",
        ),
        (
            "site: Test site\n",
            "site: Test site\nstorag: {}\n",
            r"crowdsafe.yaml:2: storag: unknown key 'storag' under \(top level\)",
        ),
        # fewer than 4 calibration points
        (
            "[[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]]",
            "[[60, 190], [720, 190], [740, 560]]",
            r"cameras\[0\].calibration.image_points: List should have at least 4 items",
        ),
        # mismatched point lists
        (
            "[[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]]",
            "[[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94]]",
            r"cameras\[0\].calibration: image_points has 5 points but ground_points_m has 4",
        ),
        # degenerate: all ground points on one line
        (
            "[[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]]",
            "[[0, 1], [0, 2], [0, 3], [0, 4], [0, 5]]",
            r"cameras\[0\].calibration: all 5 ground points lie on one line",
        ),
        # one ground point measured 3 m wrong
        (
            "[0.00, 14.06]",
            "[3.00, 14.06]",
            r"cameras\[0\].calibration: calibration point \d reprojects .* m from its measured",
        ),
        # a bow-tie polygon
        (
            "[[0, 200], [384, 200], [384, 576], [0, 576]]",
            "[[0, 200], [384, 576], [384, 300], [0, 576]]",
            r"crowdsafe.yaml:16: cameras\[0\].zones\[0\].polygon: polygon is self-intersecting: "
            r"its edges cross each other \(a bow-tie\)",
        ),
        (
            "[[0, 200], [384, 200], [384, 576], [0, 576]]",
            "[[0, 200], [384, 200]]",
            r"cameras\[0\].zones\[0\].polygon: List should have at least 3 items",
        ),
        (
            "[[0, 200], [384, 200], [384, 576], [0, 576]]",
            "[[0, 200], [100, 200], [200, 200]]",
            r"polygon has no area",
        ),
        # bad ids and duplicates
        (
            "- id: left",
            "- id: Left Zone",
            r"cameras\[0\].zones\[0\].id: String should match pattern",
        ),
        # a duplicate is reported at its own line, naming where the id was first used
        (
            "- id: right",
            "- id: left",
            r"crowdsafe.yaml:17: cameras\[0\].zones\[1\].id: zone id 'left' is already used by "
            r"cameras\[0\].zones\[0\]",
        ),
        # bounded numbers
        (
            "storage:\n",
            "server:\n  port: 70000\nstorage:\n",
            r"server.port: Input should be less than or equal to 65535",
        ),
        (
            "    calibration:\n",
            "    analysis_fps: 0\n    calibration:\n",
            r"cameras\[0\].analysis_fps: Input should be greater than 0",
        ),
        (
            "    calibration:\n",
            "    detector: {score_threshold: 1.5}\n    calibration:\n",
            r"cameras\[0\].detector.score_threshold: Input should be less than or equal to 0.95",
        ),
        (
            "    zones:\n",
            "    zones: []\n    unused:\n",
            r"cameras\[0\].zones: List should have at least 1 item",
        ),
        (
            "site: Test site\n",
            "site: Test site\nthresholds: {walkway_space_m2: [1, 2, 3, 4, 5]}\n",
            r"thresholds.walkway_space_m2: space bounds must be 5 positive numbers, "
            r"strictly decreasing",
        ),
        # an event naming a zone no camera has: the key's own line, not the top level
        (
            "site: Test site\n",
            "site: Test site\nforecast:\n  events:\n  - name: fair\n"
            "    start: 2026-12-05T17:30\n    end: 2026-12-05T22:00\n"
            "    zones: [left, nowhere]\n",
            r"crowdsafe.yaml:7: forecast.events\[0\].zones\[1\]: unknown zone 'nowhere' in "
            r"event 'fair'; the zones are: left, right",
        ),
    ],
)
def test_config_errors_name_file_line_path_and_fix(
    tmp_path: Path, config_text: str, old: str, new: str, expected: str
) -> None:
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(_replace(config_text, old, new))
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_events_may_name_the_zones_they_affect(tmp_path: Path, config_text: str) -> None:
    path = tmp_path / "crowdsafe.yaml"
    event = "forecast:\n  events:\n  - {name: fair, start: 2026-12-05T17:30, end: 2026-12-05T22:00,"
    path.write_text(
        _replace(config_text, "site: Test site\n", f"site: Test site\n{event} zones: [right]}}\n")
    )
    assert load_config(path).forecast.events[0].zones == ["right"]


def test_zone_reaching_above_the_horizon_is_refused(tmp_path: Path, config_text: str) -> None:
    # a steep view: the road edges meet at the horizon near image row 95
    text = _replace(
        config_text,
        "[[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]]",
        "[[300, 200], [468, 200], [768, 576], [0, 576]]",
    )
    text = _replace(
        text,
        "[[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]]",
        "[[-2, 20], [2, 20], [2, 2], [-2, 2]]",
    )
    text = _replace(
        text,
        "[[0, 200], [384, 200], [384, 576], [0, 576]]",
        "[[0, 50], [384, 50], [384, 576], [0, 576]]",
    )
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"cameras\[0\]: zone 'left': the polygon reaches above"):
        load_config(path)


def test_missing_required_key_is_named(tmp_path: Path, config_text: str) -> None:
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(_replace(config_text, "    source:\n      url:", "    src:\n      url:"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "cameras[0].source: required key is missing" in message
    assert "unknown key 'src'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cameras: [\n  - id: x\n", r"<string>:\d+: not valid YAML"),
        ("", "the config is empty"),
        ("- a\n- b\n", "must be a mapping of keys, got list"),
        ("site: x\n", r"cameras: required key is missing"),
        ("cameras: []\n", r"cameras: List should have at least 1 item"),
    ],
)
def test_unparseable_configs(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(text)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_config_error_is_also_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_config("")


def test_a_cameras_tracking_block_reaches_its_line_tracker(config_text: str) -> None:
    from crowdsafe.assembly import build_line_stage, counting_lines

    text = config_text.replace(
        "    zones:\n",
        "    tracking: {high_score: 0.55, max_lost_s: 1.5, recover_dist: 0.5}\n"
        "    lines:\n"
        "      - id: gate\n"
        "        points: [[250, 300], [500, 300]]\n"
        "    zones:\n",
    )
    camera = parse_config(text).cameras[0]
    stage = build_line_stage(counting_lines(camera), camera.tracking, 60.0)
    assert stage is not None
    tracker = stage.tracker
    assert (tracker.high_score, tracker.low_score) == (0.55, 0.1)
    assert (tracker.max_lost_s, tracker.recover_dist) == (1.5, 0.5)
    assert stage.counter.max_gap_s == 1.5  # the counter forgets when the tracker does


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("recover_dist: -1", "tracking.recover_dist: Input should be greater than or equal to 0"),
        ("recover_dist: 9", "tracking.recover_dist: Input should be less than or equal to 5"),
    ],
)
def test_bad_tracking_settings_are_refused(config_text: str, setting: str, message: str) -> None:
    text = config_text.replace("    zones:\n", f"    tracking: {{{setting}}}\n    zones:\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(text)


@pytest.mark.parametrize(
    ("old", "new", "kinds", "error"),
    [
        # no kind or backend given: the defaults (YOLOX-Nano, SQLite)
        (
            "    calibration:\n",
            "    detector: {score_threshold: 0.4}\n    calibration:\n",
            ("yolox-nano", "sqlite"),
            None,
        ),
        (
            "    calibration:\n",
            "    detector:\n      kind: nanodet\n    calibration:\n",
            ("nanodet", "sqlite"),
            None,
        ),
        ("storage:\n", "storage:\n  backend: sqlite\n", ("yolox-nano", "sqlite"), None),
        (
            "    calibration:\n",
            "    detector:\n      kind: yolox\n    calibration:\n",
            None,
            r"crowdsafe.yaml:11: cameras\[0\].detector.kind: unknown kind 'yolox'; "
            r"it must be one of 'yolox-nano', 'nanodet'",
        ),
        (
            "storage:\n",
            "storage:\n  backend: mysql\n",
            None,
            r"crowdsafe.yaml:20: storage.backend: unknown backend 'mysql'; "
            r"it must be one of 'sqlite', 'postgresql'",
        ),
        (
            "storage:\n  path: ",
            "storage:\n  backend: postgresql\n  dsn: postgresql://db/crowdsafe\n  x: ",
            None,
            r"crowdsafe.yaml:22: storage.x: unknown key 'x' under storage;",
        ),
        # a key path through a picked kind names no pydantic union member
        (
            "    calibration:\n",
            "    detector:\n      kind: nanodet\n      tile: 256\n    calibration:\n",
            None,
            r"crowdsafe.yaml:12: cameras\[0\].detector.tile: unknown key 'tile' under "
            r"cameras\[0\].detector;",
        ),
        (
            "storage:\n",
            "storage:\n  bucket_s: 0\n",
            None,
            r"crowdsafe.yaml:20: storage.bucket_s: Input should be greater than or equal to 0.1",
        ),
    ],
)
def test_pluggable_sections_are_picked_by_kind(
    tmp_path: Path,
    config_text: str,
    old: str,
    new: str,
    kinds: tuple[str, str] | None,
    error: str | None,
) -> None:
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(_replace(config_text, old, new))
    if error is not None:
        with pytest.raises(ConfigError, match=error):
            load_config(path)
        return
    config = load_config(path)
    assert (config.cameras[0].detector.kind, config.storage.backend) == kinds


def test_alert_sinks_carry_their_kind(config_text: str) -> None:
    sinks = "alerts:\n  sinks:\n    webhooks: [{url: 'http://x', kind: webhook}]\n"
    sinks += "    mqtt: {host: broker}\n"
    config = parse_config(config_text + sinks)
    assert config.alerts.sinks.webhooks[0].kind == "webhook"
    assert config.alerts.sinks.mqtt is not None and config.alerts.sinks.mqtt.kind == "mqtt"
    with pytest.raises(ConfigError, match=r"alerts.sinks.webhooks\[0\].kind: Input should be"):
        parse_config(config_text + sinks.replace("kind: webhook", "kind: mqtt"))


def test_a_scratch_store_is_sqlite_with_the_sites_buckets(config_text: str) -> None:
    # A demo or benchmark must never write into a site's own (shared) database.
    site = config_text.split("storage:")[0] + (
        "storage:\n  backend: postgresql\n  dsn: postgresql://db/city\n  bucket_s: 2\n"
    )
    section = parse_config(site).storage
    scratch = scratch_sqlite(section, "/tmp/x.db")
    assert (scratch.backend, scratch.path, scratch.bucket_s) == ("sqlite", "/tmp/x.db", 2.0)
    assert scratch.line_bucket_s == section.line_bucket_s
