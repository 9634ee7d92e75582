"""Reading MOTChallenge ground truth (``gt/gt.txt``).

Each row is ``frame, id, left, top, width, height, flag, x, y, z``; frames count from 1.
Only rows with flag 1 are people to be found (0 marks boxes to ignore).  Track ids are
read only to derive line crossings in evaluation; they are never stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from crowdsafe.errors import ConfigError

__all__ = ["load_mot_boxes"]


def load_mot_boxes(path: str | Path) -> dict[int, npt.NDArray[np.float64]]:
    """Ground-truth boxes per frame number, as (N, 4) x1, y1, x2, y2 arrays."""
    p = Path(path)
    if p.is_dir():
        p = p / "gt" / "gt.txt" if (p / "gt" / "gt.txt").is_file() else p / "gt.txt"
    if not p.is_file():
        raise FileNotFoundError(f"ground truth not found: {p} (expected a MOT gt/gt.txt)")
    try:
        rows = np.loadtxt(p, delimiter=",", ndmin=2)
    except ValueError as exc:
        raise ConfigError(f"{p}: not a MOT ground-truth file: {exc}") from None
    if rows.size and rows.shape[1] < 7:
        raise ConfigError(
            f"{p}: MOT rows need at least 7 columns (frame,id,left,top,width,height,flag), "
            f"got {rows.shape[1]}"
        )
    out: dict[int, npt.NDArray[np.float64]] = {}
    if not rows.size:
        return out
    rows = rows[rows[:, 6] == 1]
    frames = rows[:, 0].astype(int)
    boxes = np.stack(
        [rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], axis=1
    )
    order = np.argsort(frames, kind="stable")
    frames, boxes = frames[order], boxes[order]
    uniq, starts = np.unique(frames, return_index=True)
    for f, part in zip(uniq, np.split(boxes, starts[1:]), strict=True):
        out[int(f)] = part
    return out
