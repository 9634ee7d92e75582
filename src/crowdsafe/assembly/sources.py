"""A camera's source: where its frames come from and how the reader treats them."""

from __future__ import annotations

from crowdsafe.config import CameraConfig, CrowdsafeConfig, is_sample
from crowdsafe.errors import ConfigError
from crowdsafe.ingest.decode import DecodeMode
from crowdsafe.ingest.reader import ReaderOptions
from crowdsafe.ingest.url import SourceAddress, SourceKind
from crowdsafe.ingest.video import sample_video_path

__all__ = ["address_for", "is_offline", "reader_options"]


def address_for(camera: CameraConfig, config: CrowdsafeConfig) -> SourceAddress:
    """The parsed source address of a camera (``sample:vtest`` -> the bundled file).

    Relative paths resolve against the config file's folder.  Raises ConfigError for an
    unknown sample name, and the address parser's ConfigError for a malformed URL."""
    url = camera.source.url
    if is_sample(url):
        name = url.split(":", 1)[1]
        if name != "vtest":
            raise ConfigError(
                f"camera '{camera.id}': unknown sample '{url}'; "
                "the bundled sample is 'sample:vtest'"
            )
        return SourceAddress.parse(str(sample_video_path()))
    return SourceAddress.parse(url, base_dir=config.base_dir)


def reader_options(camera: CameraConfig) -> ReaderOptions:
    """The stream reader's settings for a camera, from its ``source:`` section."""
    src = camera.source
    return ReaderOptions(
        transport=src.transport,
        open_timeout_s=src.open_timeout_s,
        stall_s=src.stall_s,
        backoff_min_s=src.reconnect_min_s,
        backoff_max_s=src.reconnect_max_s,
        loop=src.loop,
        realtime=src.realtime,
        folder_fps=src.folder_fps,
        format=src.format,
        probe_s=src.probe_s,
        # decode intra-only streams at most twice as often as they are analysed
        min_decode_interval_s=0.5 / camera.analysis_fps,
        decode=DecodeMode(src.decode),
        analysis_fps=camera.analysis_fps,
    )


def is_offline(camera: CameraConfig, address: SourceAddress) -> bool:
    """A file or image folder read as fast as it is analysed (not paced, not live):
    its reader waits for each frame to be taken instead of dropping it."""
    return address.kind in (SourceKind.FILE, SourceKind.FOLDER) and not camera.source.realtime
