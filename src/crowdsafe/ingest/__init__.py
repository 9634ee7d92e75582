"""Frame sources: video files through PyAV (FFmpeg), and a scripted fake for tests."""

from crowdsafe.ingest.base import ScriptedSource, Source
from crowdsafe.ingest.video import VideoFileSource, probe_video, sample_video_path

__all__ = ["ScriptedSource", "Source", "VideoFileSource", "probe_video", "sample_video_path"]
