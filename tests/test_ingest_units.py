"""Source addresses, redaction, reconnect backoff and the newest-frame slot."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from crowdsafe.ingest.reader import FrameSlot, ReaderOptions, StreamReader
from crowdsafe.ingest.url import SourceAddress, SourceKind, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "rtsp://admin:pa55@10.0.0.7:554/Streaming/101",
            "rtsp://admin:***@10.0.0.7:554/Streaming/101",
        ),
        ("rtsp://10.0.0.7/live", "rtsp://10.0.0.7/live"),
        ("http://token@cam.local/mjpg", "http://***@cam.local/mjpg"),
        (
            "https://cam/video.mjpg?user=ops&password=hunter2&res=hd",
            "https://cam/video.mjpg?user=ops&password=***&res=hd",
        ),
        ("https://cdn/live.m3u8?token=abc123", "https://cdn/live.m3u8?token=***"),
        ("/data/videos/gate.mp4", "/data/videos/gate.mp4"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_address_scrubs_secrets_from_any_text() -> None:
    addr = SourceAddress.parse("rtsp://admin:p%40ss@10.0.0.7/live?auth=XYZ")
    assert addr.kind is SourceKind.RTSP
    message = "401 for 'rtsp://admin:p%40ss@10.0.0.7/live?auth=XYZ' (p@ss, XYZ)"
    scrubbed = addr.scrub(message)
    assert "p%40ss" not in scrubbed
    assert "p@ss" not in scrubbed
    assert "XYZ" not in scrubbed
    assert "rtsp://admin:***@10.0.0.7/live?auth=***" in scrubbed
    assert "p%40ss" not in repr(addr)
    assert "p%40ss" not in str(addr)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("rtsp://cam/live", SourceKind.RTSP),
        ("rtsps://cam/live", SourceKind.RTSP),
        ("http://cam/stream.mjpg", SourceKind.HTTP),
        ("https://cdn/index.m3u8", SourceKind.HTTP),
        ("device:/dev/video0", SourceKind.DEVICE),
    ],
)
def test_source_kinds(url: str, kind: SourceKind) -> None:
    assert SourceAddress.parse(url).kind is kind


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    folder = SourceAddress.parse("frames", base_dir=tmp_path)
    assert folder.kind is SourceKind.FOLDER
    assert folder.url == str(tmp_path / "frames")
    video = SourceAddress.parse("clips/a.mp4", base_dir=tmp_path)
    assert video.kind is SourceKind.FILE
    assert video.url == str(tmp_path / "clips" / "a.mp4")
    assert SourceAddress.parse("device:/dev/video2").url == "/dev/video2"


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    reader = StreamReader(
        "cam",
        SourceAddress.parse("rtsp://cam/live"),
        ReaderOptions(backoff_min_s=0.5, backoff_max_s=8.0),
        rng=random.Random(42),
    )
    delays = [[reader.backoff_s(a) for _ in range(200)] for a in range(8)]
    for attempt, ds in enumerate(delays):
        base = min(8.0, 0.5 * 2**attempt)
        assert base * 0.5 <= min(ds), attempt
        assert max(ds) <= base, attempt
        assert max(ds) - min(ds) > 0.3 * base  # really jittered, cameras do not retry in step
    assert max(delays[7]) <= 8.0


def test_slot_keeps_only_the_newest_frame() -> None:
    slot = FrameSlot()
    stop = threading.Event()
    for i in range(5):
        slot.put(float(i), object(), stop)  # type: ignore[arg-type]
    item = slot.take()
    assert item is not None
    assert item.t == 4.0
    assert item.seq == 5
    assert slot.dropped == 4
    assert slot.take() is None
    assert slot.peek_t() is None


def test_blocking_slot_waits_for_the_consumer() -> None:
    slot = FrameSlot(blocking=True)
    stop = threading.Event()
    slot.put(0.0, object(), stop)  # type: ignore[arg-type]
    done = threading.Event()

    def produce() -> None:
        slot.put(1.0, object(), stop)  # type: ignore[arg-type]
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    assert not done.wait(0.3)  # the producer waits: no frame of a recording is dropped
    first = slot.take()
    assert first is not None
    assert first.t == 0.0
    assert done.wait(2.0)
    second = slot.take()
    assert second is not None
    assert second.t == 1.0
    assert slot.dropped == 0
