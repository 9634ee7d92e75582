"""What ``crowdsafe check`` verifies beyond the config's own validation: the sources.

Loading a config checks what the file says; it does not open the cameras, because a
deployment may start before a camera is reachable.  ``check`` is where an operator asks
"will this run?", so here each camera's source is looked at:

* a video file (or ``file://`` URL) must exist and be a readable video, and an image
  folder must hold images: a typo in a path otherwise shows up only as a camera that
  never goes live;
* the frame size is probed from a file or folder (or taken from ``frame_size_px``), and
  every zone vertex and line end must lie inside it (:mod:`crowdsafe.config.frame`);
  a ``frame_size_px`` that disagrees with the probed file is a finding too;
* a live source (RTSP, HTTP, a device) is not opened: ``check`` often runs away from the
  camera network, and a probe would wait for each camera's open timeout.  Its frame
  size is checked only when the config gives ``frame_size_px``.

Each finding carries the key path of the YAML it is about, so the CLI can name the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crowdsafe.assembly.sources import address_for
from crowdsafe.config import CameraConfig, CrowdsafeConfig
from crowdsafe.config.frame import FramePx, outside_frame
from crowdsafe.errors import IngestError
from crowdsafe.ingest.url import SourceKind
from crowdsafe.ingest.video import probe_video

__all__ = ["Finding", "SourceReport", "check_sources"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")  # as the stream reader reads them


@dataclass(frozen=True)
class Finding:
    """One problem: the key path it is about (``cameras[0].source.url``) and what."""

    loc: tuple[int | str, ...]
    message: str


@dataclass(frozen=True)
class SourceReport:
    """What was learnt about one camera's source: its frame size (None when not known)
    and a note for the operator (how the size was found, or why it was not)."""

    camera_id: str
    frame_px: FramePx | None
    note: str


def check_sources(config: CrowdsafeConfig) -> tuple[list[SourceReport], list[Finding]]:
    """Each camera's source report, and every finding, in the order of the config."""
    reports: list[SourceReport] = []
    findings: list[Finding] = []
    for i, cam in enumerate(config.cameras):
        at = ("cameras", i)
        probed, note, problem = _probe(cam, config)
        if problem is not None:
            findings.append(Finding((*at, "source", "url"), problem))
        frame_px = cam.frame_size_px or probed
        if cam.frame_size_px is not None and probed is not None and probed != cam.frame_size_px:
            findings.append(
                Finding(
                    (*at, "frame_size_px"),
                    f"frame_size_px is {_px(cam.frame_size_px)} but the source's frames "
                    f"are {_px(probed)}",
                )
            )
            frame_px = probed
        if frame_px is not None:
            findings += [
                Finding((*at, *loc), message)
                for loc, message in outside_frame(cam.zones, cam.lines, frame_px)
            ]
        reports.append(SourceReport(cam.id, frame_px, note))
    return reports, findings


def _probe(cam: CameraConfig, config: CrowdsafeConfig) -> tuple[FramePx | None, str, str | None]:
    """(probed frame size, note, problem) of one camera's source."""
    address = address_for(cam, config)
    if address.kind is SourceKind.FILE:
        path = Path(address.url)
        if not path.exists():
            return None, "not found", f"video file not found: {path}"
        try:
            info = probe_video(path)
        except IngestError as exc:
            return None, "unreadable", str(exc)
        return (info.width, info.height), f"{_px((info.width, info.height))} (probed)", None
    if address.kind is SourceKind.FOLDER:
        folder = Path(address.url)
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not images:
            problem = f"no images ({', '.join(_IMAGE_SUFFIXES)}) in folder {folder}"
            return None, "no images", problem
        try:
            info = probe_video(images[0])
        except IngestError as exc:
            return None, "unreadable", str(exc)
        return (info.width, info.height), f"{_px((info.width, info.height))} (probed)", None
    if cam.frame_size_px is not None:
        return None, f"{_px(cam.frame_size_px)} (frame_size_px; live source not opened)", None
    return None, "not probed (live source); set frame_size_px to check zones against it", None


def _px(frame_px: FramePx) -> str:
    return f"{frame_px[0]}x{frame_px[1]}"
