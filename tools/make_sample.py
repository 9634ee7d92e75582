"""Re-encode OpenCV's ``vtest.avi`` into the bundled sample ``src/crowdsafe/data/vtest.mp4``.

Why this exists
---------------
crowdsafe ships one short, openly licensed pedestrian clip so that the demo, docs and tests run
offline. The source is ``vtest.avi`` from OpenCV's sample data as packaged by Debian
(``opencv-doc``). The original is an ~8 MB MS-MPEG4 AVI; re-encoding it to H.264 in MP4 makes it
much smaller and playable in browsers. Every one of the 795 frames is kept at the original
768x576 and 10 fps, and timestamps are rewritten so that frame ``i`` is at exactly ``i / 10`` s.
CRF 30 (preset slow) gives ~2.2 MB at ~37 dB mean luma PSNR against the source; CRF 28 would be
~3.3 MB because the source is noisy.

Get the source (any machine with apt; no root needed)::

    apt-get download opencv-doc && dpkg -x opencv-doc_*.deb ocv
    # -> ocv/usr/share/doc/opencv-doc/examples/data/vtest.avi

Run (needs PyAV built with libx264, e.g. the project venv)::

    python tools/make_sample.py --src ocv/usr/share/doc/opencv-doc/examples/data/vtest.avi

x264 output depends on its thread count, so it is pinned (``--threads``) to keep reruns
byte-reproducible for a given FFmpeg/x264 build.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from fractions import Fraction
from pathlib import Path

import av

DEFAULT_SRC = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "crowdsafe" / "data" / "vtest.mp4"

WIDTH, HEIGHT = 768, 576
FPS = 10
EXPECTED_FRAMES = 795
TIME_BASE = Fraction(1, FPS)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def encode(src: Path, out: Path, *, crf: int, preset: str, threads: int) -> int:
    """Re-encode every video frame of ``src`` to H.264/MP4; returns the number of frames."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    count = 0
    with av.open(str(src)) as inp:
        in_stream = inp.streams.video[0]
        if (in_stream.width, in_stream.height) != (WIDTH, HEIGHT):
            raise SystemExit(
                f"error: {src} is {in_stream.width}x{in_stream.height}, expected {WIDTH}x{HEIGHT}"
            )
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as dst:
            stream = dst.add_stream(
                "libx264",
                rate=FPS,
                options={"crf": str(crf), "preset": preset, "threads": str(threads)},
            )
            stream.width = WIDTH
            stream.height = HEIGHT
            stream.pix_fmt = "yuv420p"
            stream.time_base = TIME_BASE
            stream.codec_context.time_base = TIME_BASE
            for frame in inp.decode(in_stream):
                # Drop source timing entirely: frame i is at pts i in a 1/10 s time base.
                clean = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p")
                clean.pts = count
                clean.time_base = TIME_BASE
                dst.mux(stream.encode(clean))
                count += 1
            dst.mux(stream.encode(None))
    tmp.replace(out)
    return count


def verify(path: Path) -> list[float]:
    """Decode ``path`` fully; check frame count, size and timing. Returns all frame times."""
    times: list[float] = []
    with av.open(str(path)) as container:
        if [s.type for s in container.streams] != ["video"]:
            raise SystemExit(f"error: unexpected streams in {path}: {container.streams}")
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if (frame.width, frame.height) != (WIDTH, HEIGHT):
                raise SystemExit(f"error: decoded frame is {frame.width}x{frame.height}")
            if frame.time is None:
                raise SystemExit("error: decoded frame has no timestamp")
            times.append(float(frame.time))
    if len(times) != EXPECTED_FRAMES:
        raise SystemExit(f"error: decoded {len(times)} frames, expected {EXPECTED_FRAMES}")
    bad = [i for i, t in enumerate(times) if abs(t - i / FPS) > 1e-6]
    if bad:
        i = bad[0]
        raise SystemExit(f"error: frame {i} at t={times[i]!r}, expected {i / FPS}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="path to vtest.avi")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .mp4 path")
    parser.add_argument("--crf", type=int, default=30, help="x264 constant rate factor")
    parser.add_argument("--preset", default="slow", help="x264 preset")
    parser.add_argument("--threads", type=int, default=4, help="x264 threads (fixed for repro)")
    args = parser.parse_args(argv)

    src: Path = args.src
    if not src.is_file():
        print(
            f"error: {src} not found.\n"
            "vtest.avi ships in Debian/Ubuntu's `opencv-doc` package. Either install it\n"
            "(apt-get install opencv-doc) or, without root, unpack it anywhere:\n"
            "    apt-get download opencv-doc && dpkg -x opencv-doc_*.deb ocv\n"
            "and pass --src ocv/usr/share/doc/opencv-doc/examples/data/vtest.avi",
            file=sys.stderr,
        )
        return 2

    n = encode(src, args.out, crf=args.crf, preset=args.preset, threads=args.threads)
    if n != EXPECTED_FRAMES:
        print(f"error: source had {n} frames, expected {EXPECTED_FRAMES}", file=sys.stderr)
        return 1
    times = verify(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(times)} frames)")
    print(f"first frame times: {times[:3]}, last: {times[-1]}")
    print(f"sha256 src {sha256_file(src)}")
    print(f"sha256 out {sha256_file(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
