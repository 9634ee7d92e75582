"""Annotated crowd-counting datasets in their authors' layouts: head points per image.

Each reader yields :class:`Sample` objects: an RGB image, the (N, 2) head points in its
pixels (x, y) and, where the dataset counts only part of the image (Mall), a boolean
region mask.  The layouts are the ones the datasets are distributed in, so any split
in the same layout (``--split test``) reads the same way:

* ShanghaiTech (Zhang et al., CVPR 2016): ``ROOT/part_A|part_B/{train,test}_data/``
  holding ``images/IMG_k.jpg`` and ``ground-truth/GT_IMG_k.mat``, where
  ``loadmat(p)['image_info'][0, 0][0, 0][0]`` is the (N, 2) point array.
* Mall (Chen et al., BMVC 2012): ``ROOT/frames/seq_%06d.jpg``, ``ROOT/mall_gt.mat``
  (``frame[0][i]['loc'][0, 0]`` for frame i + 1) and ``ROOT/perspective_roi.mat``
  (``roi[0, 0]['mask']``, the counted region).  The standard split is frames 1-800
  for training and 801-2000 for testing; a copy with fewer frames reads what it holds.
* UCF_CC_50 (Idrees et al., CVPR 2013): ``ROOT/k.jpg`` and ``ROOT/k_ann.mat``
  (``annPoints``), all 50 images.
* A MOT15 sequence (sparse street scenes, for comparing with detection): ``ROOT`` holds
  the sequence's video (``*.mp4``) and ``gt/gt.txt``; every frame of the video, its
  points the annotated people's foot points (the split is ignored).

Training (:mod:`crowdsafe.training`) and evaluation (:mod:`crowdsafe.evaluation.density`)
both read through here, so a held-out key means the same image to both.

Only head points are read: no identity, no attribute.  The data are research datasets;
they are read from where they lie and never copied into this project.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.errors import DatasetError

__all__ = [
    "DATASETS",
    "DatasetError",
    "Sample",
    "dataset_samples",
    "list_items",
    "points_inside",
]

DatasetName = Literal["shanghaitech-a", "shanghaitech-b", "mall", "ucf_cc_50", "mot15"]
DATASETS: tuple[str, ...] = ("shanghaitech-a", "shanghaitech-b", "mall", "ucf_cc_50", "mot15")
Split = Literal["train", "test"]

MALL_TRAIN_FRAMES = 800  # frames 1-800 train, 801-2000 test (Loy et al.)


@dataclass(frozen=True)
class Sample:
    """One annotated image: ``image`` RGB uint8 (H, W, 3); ``points`` float64 (N, 2)
    head positions (x, y) in its pixels; ``roi`` a bool (H, W) mask of the counted
    region, or None for the whole image."""

    key: str
    image: npt.NDArray[np.uint8]
    points: npt.NDArray[np.float64]
    roi: npt.NDArray[np.bool_] | None = None

    @property
    def count(self) -> int:
        """People to count: the points inside the region (all of them without one)."""
        if self.roi is None:
            return int(self.points.shape[0])
        return int(np.count_nonzero(points_inside(self.points, self.roi)))


@dataclass(frozen=True)
class _Item:
    key: str
    image: Path
    annotation: Path | None  # None: points come from a shared file (Mall)
    index: int = -1


def points_inside(
    points: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Which (x, y) points fall in the True pixels of ``mask`` (points off the image
    count as on its nearest edge pixel)."""
    h, w = mask.shape
    x = np.clip(points[:, 0].astype(np.int64), 0, w - 1)
    y = np.clip(points[:, 1].astype(np.int64), 0, h - 1)
    return mask[y, x]


def _natural_key(path: Path) -> tuple[int, str]:
    m = re.search(r"(\d+)", path.stem)
    return (int(m.group(1)) if m else -1, path.name)


def _loadmat(path: Path) -> dict[str, object]:
    from scipy.io import loadmat  # scipy is a dependency of scikit-image, which we use

    try:
        return dict(loadmat(str(path)))
    except Exception as exc:  # scipy raises several types for a bad file
        raise DatasetError(f"{path}: cannot read the annotation: {exc}") from exc


def _read_image(path: Path) -> npt.NDArray[np.uint8]:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey images come back as 3 channels
    if bgr is None:
        raise DatasetError(f"{path}: not a readable image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _points(array: object, path: Path) -> npt.NDArray[np.float64]:
    pts = np.asarray(array, dtype=np.float64)
    if pts.size == 0:
        return np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise DatasetError(f"{path}: expected an (N, 2) array of points, got shape {pts.shape}")
    return pts[:, :2]


def _shanghaitech_folder(root: Path, part: str, split: str) -> Path:
    folder = root / f"part_{part}" / f"{split}_data"
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: not found; a ShanghaiTech root holds "
            f"part_A/{{train,test}}_data and part_B/{{train,test}}_data"
        )
    return folder


def list_items(name: str, root: str | Path, split: str = "train") -> list[_Item]:
    """The images of dataset ``name`` under ``root``, in a stable order (by number)."""
    root = Path(root)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r}; expected 'train' or 'test'")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    items: list[_Item] = []
    if name.startswith("shanghaitech"):
        folder = _shanghaitech_folder(root, name[-1].upper(), split)
        for image in sorted((folder / "images").glob("IMG_*.jpg"), key=_natural_key):
            ann = folder / "ground-truth" / f"GT_{image.stem}.mat"
            if not ann.is_file():
                raise DatasetError(f"{ann}: annotation missing for {image.name}")
            items.append(_Item(f"{name}/{split}/{image.stem}", image, ann))
    elif name == "mall":
        frames = sorted((root / "frames").glob("seq_*.jpg"), key=_natural_key)
        if not frames:
            raise DatasetError(f"{root / 'frames'}: no seq_NNNNNN.jpg frames")
        for path in frames:
            number = _natural_key(path)[0]
            in_train = number <= MALL_TRAIN_FRAMES
            if in_train == (split == "train"):
                items.append(_Item(f"mall/{path.stem}", path, None, number - 1))
    elif name == "mot15":
        videos = sorted(root.glob("*.mp4"))
        gt = root / "gt" / "gt.txt"
        if not videos or not gt.is_file():
            raise DatasetError(f"{root}: a MOT15 sequence folder holds a .mp4 and gt/gt.txt")
        items.append(_Item(f"mot15/{root.name}", videos[0], gt))
    else:  # ucf_cc_50: one set of 50 images, no split
        for image in sorted(root.glob("*.jpg"), key=_natural_key):
            ann = root / f"{image.stem}_ann.mat"
            if not ann.is_file():
                raise DatasetError(f"{ann}: annotation missing for {image.name}")
            items.append(_Item(f"ucf_cc_50/{image.stem}", image, ann))
    if not items:
        raise DatasetError(f"{root}: no {split} images of {name} found")
    return items


def dataset_samples(
    name: str, root: str | Path, split: str = "train", keys: Sequence[str] | None = None
) -> Iterator[Sample]:
    """Read dataset ``name`` (one of :data:`DATASETS`) from ``root``, image by image.

    ``keys`` limits it to those items (e.g. a validation subset).  Raises
    :class:`DatasetError` naming the file for a missing or malformed folder.
    """
    root = Path(root)
    items = list_items(name, root, split)
    if keys is not None:
        wanted = set(keys)
        items = [i for i in items if i.key in wanted]
    if name == "mot15":
        yield from _mot15_samples(items[0])
        return
    mall_points: list[npt.NDArray[np.float64]] | None = None
    mall_roi: npt.NDArray[np.bool_] | None = None
    if name == "mall":
        mall_points, mall_roi = _read_mall(root)
    for item in items:
        image = _read_image(item.image)
        if mall_points is not None:
            if item.index >= len(mall_points):
                raise DatasetError(
                    f"{root / 'mall_gt.mat'}: no annotation for frame {item.index + 1} "
                    f"(it holds {len(mall_points)})"
                )
            roi = mall_roi
            if roi is not None and roi.shape != image.shape[:2]:
                raise DatasetError(
                    f"{root / 'perspective_roi.mat'}: roi is {roi.shape}, "
                    f"frame {item.image.name} is {image.shape[:2]}"
                )
            yield Sample(item.key, image, mall_points[item.index], roi)
            continue
        assert item.annotation is not None
        mat = _loadmat(item.annotation)
        try:
            key = "annPoints" if name == "ucf_cc_50" else "image_info"
            raw = mat[key] if key == "annPoints" else mat[key][0, 0][0, 0][0]  # type: ignore[index]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DatasetError(
                f"{item.annotation}: not in the {name} annotation format ({exc})"
            ) from exc
        yield Sample(item.key, image, _points(raw, item.annotation))


def _mot15_samples(item: _Item) -> Iterator[Sample]:
    from crowdsafe.evaluation.mot import load_mot_tracks
    from crowdsafe.ingest.video import VideoFileSource

    assert item.annotation is not None
    people = load_mot_tracks(item.annotation)
    for frame in VideoFileSource("eval", item.image).frames():
        found = people.get(frame.index + 1)  # MOT frames count from 1
        points = np.zeros((0, 2)) if found is None else found.ground_points.astype(np.float64)
        yield Sample(f"{item.key}/{frame.index + 1}", frame.image, points)


def _read_mall(
    root: Path,
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.bool_] | None]:
    gt_path = root / "mall_gt.mat"
    if not gt_path.is_file():
        raise DatasetError(f"{gt_path}: not found; a Mall root holds frames/ and mall_gt.mat")
    gt = _loadmat(gt_path)
    try:
        frames = gt["frame"][0]  # type: ignore[index]
        points = [_points(frames[i]["loc"][0, 0], gt_path) for i in range(len(frames))]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DatasetError(f"{gt_path}: not in the Mall annotation format ({exc})") from exc
    roi_path = root / "perspective_roi.mat"
    roi: npt.NDArray[np.bool_] | None = None
    if roi_path.is_file():
        try:
            raw = _loadmat(roi_path)["roi"][0, 0]["mask"]  # type: ignore[index]
            roi = np.asarray(raw) > 0
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DatasetError(f"{roi_path}: no roi mask ({exc})") from exc
    return points, roi
