"""Make the 1080p25 H.264 test streams of ``crowdsafe bench --cameras`` from the sample.

The bundled sample (768x576, 10 fps) hides what decoding costs: a city camera sends
1920x1080 at 25 fps.  This upscales the sample to 1920x1080, repeats its frames to 25
fps (each source frame is shown for the 2-3 output frames its time covers), and encodes
it with x264 at about 4 Mbit/s, x264's default three B-frames and a fixed keyframe
interval (no scene-cut keyframes), once per GOP asked::

    python tools/make_1080p_streams.py --out /tmp/crowdsafe-1080p --gop 25 50

writes ``vtest-1080p25-gop25.mp4`` and ``vtest-1080p25-gop50.mp4`` there.  The files are
tens of MB: keep them outside the repository.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from crowdsafe.ingest.video import sample_video_path

WIDTH, HEIGHT, FPS = 1920, 1080, 25


def make_stream(
    source: Path, out: Path, *, gop: int, seconds: float, bitrate: int = 4_000_000
) -> int:
    """Encode ``seconds`` of ``source`` as 1080p25 H.264 with keyframes every ``gop``
    frames into ``out``; returns the frames written."""
    written = 0
    with av.open(str(source)) as src, av.open(str(out), mode="w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream("libx264", rate=FPS)
        vout.width, vout.height, vout.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        vout.bit_rate = bitrate
        vout.codec_context.gop_size = gop
        # x264's own default; PyAV's codec context would otherwise ask for no B-frames,
        # and the B-frames are what nonref decoding skips.
        vout.codec_context.max_b_frames = 3
        vout.options = {
            "preset": "veryfast",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:"
            f"vbv-maxrate={bitrate // 1000}:vbv-bufsize={2 * bitrate // 1000}",
        }
        total = round(seconds * FPS)
        base: float | None = None
        for frame in src.decode(vin):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            base = t if base is None else base
            # The output frames whose time this source frame covers (until the next one).
            big = frame.reformat(WIDTH, HEIGHT, format="yuv420p")
            # A decoded frame keeps its own picture type, and x264 would take it as an
            # order (the sample's P-frames forced as P: no B-frames, odd keyframes).
            big.pict_type = PictureType.NONE
            frame_end = t - base + 1.0 / float(vin.average_rate or 10)
            while written < total and written / FPS < frame_end:
                big.pts = written
                big.time_base = Fraction(1, FPS)
                for packet in vout.encode(big):
                    dst.mux(packet)
                written += 1
            if written >= total:
                break
        for packet in vout.encode(None):
            dst.mux(packet)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/crowdsafe-1080p", help="output folder")
    parser.add_argument("--gop", type=int, nargs="+", default=[25, 50], help="keyframe intervals")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each stream")
    parser.add_argument("--source", default=str(sample_video_path()), help="video to upscale")
    args = parser.parse_args()
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for gop in args.gop:
        path = folder / f"vtest-1080p25-gop{gop}.mp4"
        frames = make_stream(Path(args.source), path, gop=gop, seconds=args.seconds)
        size_mb = path.stat().st_size / 1e6
        rate = path.stat().st_size * 8 / (frames / FPS) / 1e6
        print(f"{path}: {frames} frames, {size_mb:.1f} MB, {rate:.2f} Mbit/s")


if __name__ == "__main__":
    main()
