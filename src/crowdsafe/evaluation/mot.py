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
from crowdsafe.types import Detections

__all__ = ["load_mot_boxes", "load_mot_tracks"]


def _read_rows(path: str | Path) -> npt.NDArray[np.float64]:
    """The flag-1 rows of a MOT ground-truth file (or of a sequence folder's gt/gt.txt)."""
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
    if not rows.size:
        return np.zeros((0, 7))
    rows = rows[rows[:, 6] == 1]
    return np.asarray(rows[np.argsort(rows[:, 0], kind="stable")], dtype=np.float64)


def _per_frame(rows: npt.NDArray[np.float64]) -> list[tuple[int, npt.NDArray[np.float64]]]:
    """Rows (sorted by frame) split into (frame number, rows of that frame)."""
    if not rows.size:
        return []
    uniq, starts = np.unique(rows[:, 0].astype(int), return_index=True)
    return [(int(f), part) for f, part in zip(uniq, np.split(rows, starts[1:]), strict=True)]


def _boxes(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.stack(
        [rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], axis=1
    )


def load_mot_boxes(path: str | Path) -> dict[int, npt.NDArray[np.float64]]:
    """Ground-truth boxes per frame number, as (N, 4) x1, y1, x2, y2 arrays."""
    return {f: _boxes(part) for f, part in _per_frame(_read_rows(path))}


def load_mot_tracks(path: str | Path) -> dict[int, Detections]:
    """Ground-truth people per frame number, with their annotated ids as ``track_id``.

    For evaluating line crossings only: the ids are the annotators' and stay in memory.
    Scores are 1.
    """
    return {
        f: Detections(
            xyxy=_boxes(part).astype(np.float32),
            score=np.ones(len(part), dtype=np.float32),
            track_id=part[:, 1].astype(np.int64),
        )
        for f, part in _per_frame(_read_rows(path))
    }
