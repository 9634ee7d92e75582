"""`crowdsafe check` and the config's refusals of issue 13: each bad config gives exit
status 2 and a message naming what is wrong and at which line of the YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from crowdsafe.cli import main
from crowdsafe.config import CrowdsafeConfig, parse_config
from crowdsafe.errors import ConfigError
from crowdsafe.strict import StrictModel

from .conftest import CONFIG_TEMPLATE

LINE = "    lines:\n      - id: gate\n        points: [[300, 300], [300, 500]]\n"


def _config(tmp_path: Path, video: Path, old: str = "", new: str = "") -> Path:
    text = CONFIG_TEMPLATE.format(video=video, db=tmp_path / "t.db").replace(
        "storage:\n", LINE + "storage:\n"
    )
    if old:
        assert old in text, f"test setup: {old!r} not in the config"
        text = text.replace(old, new, 1)
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(text)
    return path


def _line(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line of ``path`` containing ``needle``."""
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return hits[nth - 1]


# (old, new, line with this text (nth), message after "file:line: ")
CHECK_CASES = [
    pytest.param(
        "url: {video}",
        "url: {tmp}/missing.mp4",
        ("url:", 1),
        "cameras[0].source.url: video file not found: {tmp}/missing.mp4",
        id="missing-file",
    ),
    pytest.param(
        "url: {video}",
        "url: file://{tmp}/missing.mp4",
        ("url:", 1),
        "cameras[0].source.url: video file not found: {tmp}/missing.mp4",
        id="missing-file-url",
    ),
    pytest.param(
        "url: {video}",
        "url: ftp://cam:secret@10.0.0.7/video.mp4",
        ("url:", 1),
        "cameras[0].source.url: unsupported URL scheme 'ftp' in 'ftp://cam:***@10.0.0.7/video.mp4'",
        id="ftp-scheme",
    ),
    pytest.param(
        "url: {video}",
        "url: {tmp}",
        ("url:", 1),
        "cameras[0].source.url: no images (.jpg, .jpeg, .png, .bmp) in folder {tmp}",
        id="folder-without-images",
    ),
    pytest.param(
        "[384, 200], [768, 200], [768, 576], [384, 576]",
        "[384, 200], [768, 200], [5000, 5000], [384, 576]",
        ("[5000, 5000]", 1),
        "cameras[0].zones[1].polygon[2]: zone 'right': vertex (5000, 5000) lies outside the "
        "768x576 frame",
        id="zone-outside-probed-frame",
    ),
    pytest.param(
        "[[300, 300], [300, 500]]",
        "[[300, 300], [300, 700]]",
        ("[300, 700]", 1),
        "cameras[0].lines[0].points[1]: line 'gate': end (300, 700) lies outside the 768x576 frame",
        id="line-outside-probed-frame",
    ),
    pytest.param(
        "    calibration:\n",
        "    frame_size_px: [1024, 768]\n    calibration:\n",
        ("frame_size_px", 1),
        "cameras[0].frame_size_px: frame_size_px is 1024x768 but the source's frames are 768x576",
        id="configured-size-disagrees",
    ),
    pytest.param(
        "    calibration:\n",
        "    frame_size_px: [700, 576]\n    calibration:\n",
        ("[768, 200], [768, 576]", 1),
        "cameras[0].zones[1].polygon[1]: zone 'right': vertex (768, 200) lies outside the "
        "700x576 frame (frame_size_px)",
        id="zone-outside-configured-frame",
    ),
    pytest.param(
        "[[0, 200], [384, 200], [384, 576], [0, 576]]",
        "[[0, 200], [384, 576], [384, 200], [0, 576]]",
        ("[384, 576], [384, 200]", 1),
        "cameras[0].zones[0].polygon: polygon is self-intersecting: its edges cross each "
        "other (a bow-tie)",
        id="bow-tie",
    ),
    pytest.param(
        "[[0, 200], [384, 200], [384, 576], [0, 576]]",
        "[[0, 200], [100, 300], [200, 400], [300, 500]]",
        ("[100, 300]", 1),
        "cameras[0].zones[0].polygon: polygon has no area (its vertices are on one line)",
        id="vertices-on-one-line",
    ),
    pytest.param(
        "- id: right",
        "- id: left",
        ("- id: left", 2),
        "cameras[0].zones[1].id: zone id 'left' is already used by cameras[0].zones[0]",
        id="duplicate-zone-id",
    ),
    pytest.param(
        "- id: gate",
        "- id: right",
        ("- id: right", 2),
        "cameras[0].lines[0].id: line id 'right' is already used by cameras[0].zones[1]",
        id="line-id-of-a-zone",
    ),
    pytest.param(
        "[[-7.02, 19.19]",
        "[[.nan, 19.19]",
        ("ground_points_m", 1),
        "cameras[0].calibration.ground_points_m[0][0]: Input should be a finite number",
        id="nan-in-calibration",
    ),
    pytest.param(
        "storage:\n",
        "storage:\n  bucket_s: .inf\n",
        ("bucket_s", 1),
        "storage.bucket_s: Input should be a finite number",
        id="inf-bucket",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "message"), CHECK_CASES)
def test_check_names_what_is_wrong_and_its_line(
    tmp_path: Path,
    sample_video: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    where: tuple[str, int],
    message: str,
) -> None:
    fill = {"video": sample_video, "tmp": tmp_path}
    path = _config(tmp_path, sample_video, old.format(**fill), new.format(**fill))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crowdsafe: error: ")
    assert f"{path}:{_line(path, *where)}: {message.format(**fill)}" in err, err
    assert "secret" not in err  # a URL's password is never quoted


def test_check_passes_a_good_config_and_prints_the_probed_frame(
    tmp_path: Path, sample_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(
        tmp_path,
        sample_video,
        "    calibration:\n",
        "    frame_size_px: [768, 576]\n    calibration:\n",
    )
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "camera cam1: frame 768x576 (probed)" in out
    assert "config OK" in out


def test_check_does_not_open_a_live_source(
    tmp_path: Path, sample_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9 of loopback: a probe would fail; check must not try.
    path = _config(tmp_path, sample_video, f"url: {sample_video}", "url: rtsp://127.0.0.1:9/x")
    assert main(["check", str(path)]) == 0
    assert "frame not probed (live source); set frame_size_px" in capsys.readouterr().out


@pytest.mark.parametrize(
    "url", ["rtsp://h/s", "rtsps://h/s", "http://h/s", "HTTPS://h/s", "file:///v.mp4",
            "device:/dev/video0", "sample:vtest", "v.mp4", "C:\\v.mp4"],
)  # fmt: skip
def test_supported_source_schemes_load(sample_video: Path, url: str) -> None:
    text = CONFIG_TEMPLATE.format(video=sample_video, db="t.db").replace(
        f"url: {sample_video}", f"url: '{url}'"
    )
    assert parse_config(text).cameras[0].source.url == url


def _config_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    """Every model class reachable from ``model``'s fields (unions, lists, tuples)."""
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[object] = [field.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                _config_models(t, seen)
            stack.extend(getattr(t, "__args__", ()))


def test_every_config_section_refuses_non_finite_numbers() -> None:
    seen: set[type[BaseModel]] = set()
    _config_models(CrowdsafeConfig, seen)
    assert len(seen) > 15  # the walk reaches the sections (cameras, alerts, forecast...)
    loose = sorted(
        m.__name__
        for m in seen
        if not issubclass(m, StrictModel) or m.model_config.get("allow_inf_nan") is not False
    )
    assert loose == []


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_thresholds_are_refused(sample_video: Path, value: str) -> None:
    text = CONFIG_TEMPLATE.format(video=sample_video, db="t.db").replace(
        "storage:\n", f"alerts:\n  density_per_m2: {{warning: {value}}}\nstorage:\n"
    )
    with pytest.raises(
        ConfigError, match=r"alerts.density_per_m2.warning: Input should be a finite"
    ):
        parse_config(text)
