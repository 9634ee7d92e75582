"""ByteTrack-style multi-object tracking for one camera, in numpy.

The rule this module carries: **every detection box is used, but only sure ones may
start a track.**  ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by
Associating Every Detection Box", ECCV 2022) showed that the low-score boxes a detector
gives a half-occluded person are what keeps that person's track alive; throwing them
away at a fixed threshold breaks tracks exactly when people overlap.  Low-score boxes
are also where background clutter lives, so they may extend a track that is already
being followed, never create one.  One update:

1. Predict every track (confirmed, tentative and lost) to the frame time with a
   constant-velocity Kalman filter on (cx, cy, aspect w/h, height) and their rates
   (SORT, Bewley et al. 2016; the noise model of DeepSORT/ByteTrack).
2. Match high-score boxes (``score >= high_score``) to all tracks by IoU, ranked
   (optionally, ``direction_weight`` > 0) with a motion-direction term: a pair gains
   ``direction_weight * score * (pi/2 - angle) / pi``, where ``angle`` is between the
   track's recent direction (from a sighting about ``_DIRECTION_WINDOW_S`` old to its
   latest) and the direction from its latest sighting to the box (OC-SORT's velocity
   consistency, Cao et al. 2023).  Two people who cross in opposite directions are
   seen as one merged box for a few frames, which stalls both tracks' Kalman
   velocities; when they part, overlap alone often hands each track the other person,
   and a counting line between them counts both crossings wrong.  The direction
   measured over the longer window still points the right way.  The term only ranks
   pairs the IoU gate admits.
3. Match low-score boxes (``low_score <= score < high_score``) to the tracks that were
   being followed in the previous frame and are still unmatched, at IoU >= 0.5 at
   least (ByteTrack's second-stage threshold: weak boxes must overlap well).  Lost
   tracks are not offered to weak boxes, as in ByteTrack.
4. Optionally (``recover_dist`` > 0), offer the sure boxes still unmatched to the lost
   tracks by distance instead of overlap: a box whose centre lies within
   ``recover_dist`` box heights of where the track was last *seen*, at a similar
   height (ratio 0.75-1.33), takes the track back (OC-SORT's observation-centric
   recovery, Cao et al. 2023, with a distance gate).  A person hidden for a second
   while walking past others is often found again where the prediction does not
   overlap them any more (for instance when its velocity was learnt from boxes that
   were merging with a neighbour's); without this they get a new id, and a counting line between
   the two sightings misses them.
5. Correct matched tracks with their boxes; a tentative track that misses a frame is
   dropped; a confirmed track that has not been matched for more than ``max_lost_s``
   seconds is dropped; unmatched high-score boxes start tentative tracks.
6. A track is *confirmed* after ``min_hits`` consecutive matches and from then on is
   reported whenever it is matched.

Time, not frame count: the lost buffer and the Kalman motion model use the frame
timestamps (seconds), so a camera analysed at a varying rate keeps the same
behaviour.  Velocities are in pixels per second.  The process noise is DeepSORT's
per-frame noise at 25 fps, scaled linearly with the elapsed time.

Assignment is optimal (:mod:`crowdsafe.track.assignment`).

Privacy: track ids are small integers counted from 1 by each tracker; they live in
this object's memory only and are never stored, logged or sent (see
docs/adr/0001-aggregates-only.md).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from crowdsafe.detect.nms import box_iou
from crowdsafe.track.assignment import linear_assignment
from crowdsafe.types import Detections

__all__ = ["ByteTracker", "TrackerSettings"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# ByteTrack's second-stage IoU gate: a low-score box must overlap a track this well.
_LOW_STAGE_MIN_IOU = 0.5
# DeepSORT/ByteTrack noise constants are per frame; they were tuned at 25-30 fps.
_REF_DT_S = 1.0 / 25.0
_STD_POS = 1.0 / 20.0  # position noise, as a fraction of the box height
_STD_VEL = 1.0 / 160.0  # velocity noise per frame, as a fraction of the box height
_STD_ASPECT = 1e-2
_STD_ASPECT_VEL = 1e-5
_STD_ASPECT_MEAS = 1e-1
_MIN_HEIGHT_PX = 1.0
# Height ratio a box must have to a lost track's height to take it back (step 4 above).
_RECOVER_HEIGHT_RATIO = (0.75, 1.0 / 0.75)
# The motion direction (step 2) is measured from a sighting 1-2 windows old: long
# enough that the merged box of two people crossing does not erase it (measured 0.4 to
# 0.8 s all gave the same line errors), short enough to follow a turn.
_DIRECTION_WINDOW_S = 0.5
# Moves shorter than this, in box heights, have no direction (a person standing still).
_DIRECTION_MIN_MOVE = 0.05

_H = np.hstack([np.eye(4), np.zeros((4, 4))])  # measurement: (cx, cy, a, h)


def _xyxy_to_cxcyah(xyxy: FloatArray) -> FloatArray:
    w = xyxy[:, 2] - xyxy[:, 0]
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], _MIN_HEIGHT_PX)
    return np.stack(
        [(xyxy[:, 0] + xyxy[:, 2]) / 2.0, (xyxy[:, 1] + xyxy[:, 3]) / 2.0, w / h, h], axis=1
    )


def _cxcyah_to_xyxy(z: FloatArray) -> FloatArray:
    h = np.maximum(z[:, 3], _MIN_HEIGHT_PX)
    w = np.maximum(z[:, 2], 0.0) * h
    return np.stack(
        [z[:, 0] - w / 2.0, z[:, 1] - h / 2.0, z[:, 0] + w / 2.0, z[:, 1] + h / 2.0], axis=1
    )


def _process_noise(height: FloatArray, dt_s: float) -> FloatArray:
    """(K, 8, 8) diagonal process noise for an elapsed ``dt_s`` seconds."""
    h = height
    vel = _STD_VEL / _REF_DT_S  # px/s per px of height
    std = np.stack(
        [
            _STD_POS * h,
            _STD_POS * h,
            np.full_like(h, _STD_ASPECT),
            _STD_POS * h,
            vel * h,
            vel * h,
            np.full_like(h, _STD_ASPECT_VEL / _REF_DT_S),
            vel * h,
        ],
        axis=1,
    )
    var = std**2 * (dt_s / _REF_DT_S)
    out = np.zeros((len(h), 8, 8))
    idx = np.arange(8)
    out[:, idx, idx] = var
    return out


class TrackerSettings(Protocol):
    """The settings :meth:`ByteTracker.from_settings` reads (meanings and ranges: see
    :class:`ByteTracker`).  A camera's ``tracking`` config section has them, and so does
    any object with these attributes; the tracker does not depend on the config."""

    @property
    def high_score(self) -> float: ...
    @property
    def low_score(self) -> float: ...
    @property
    def match_iou(self) -> float: ...
    @property
    def min_hits(self) -> int: ...
    @property
    def max_lost_s(self) -> float: ...
    @property
    def recover_dist(self) -> float: ...
    @property
    def direction_weight(self) -> float: ...


class ByteTracker:
    """Follows the people of one camera from frame to frame (see the module docstring).

    ``high_score`` (0, 1]: boxes at least this sure are matched first and may start
    tracks.  ``low_score`` [0, high_score): weaker boxes below it are ignored; those
    between the two only extend tracks.  ``match_iou`` (0, 1]: least IoU between a
    track's predicted box and a box for them to match.  ``min_hits`` >= 1: consecutive
    matches before a track is reported.  ``max_lost_s`` >= 0 seconds: how long an
    unmatched confirmed track is kept to be found again.  ``recover_dist`` >= 0 box
    heights: how far from where a lost track was last seen a sure box may be to take it
    back (step 4 of the module docstring); 0 turns that step off.
    ``direction_weight`` [0, 2]: weight of the motion-direction term of step 2; 0 turns
    it off.

    Defaults, measured (line-crossing error over 29 vertical lines on MOT15
    TUD-Stadtmitte and TUD-Campus, NanoDet-m, every 1st, 2nd and 3rd frame): ByteTrack's
    published ``high_score=0.5`` suits YOLOX trained on MOT; NanoDet-m scores people
    lower, and 0.35 (its own operating threshold) cut the error by a third or more.
    ``min_hits=1`` and ``max_lost_s=2.0`` beat 2-3 hits and 1 s at every rate: with a
    weak detector a tentative track dies at its first miss, and occlusions in a
    walking crowd last over a second.  A one-frame false track cannot make a line crossing by itself
    (the line counter needs a track seen clearly on both sides).  ``recover_dist`` is off
    by default: with NanoDet-m on whole frames it did not help (line error 117 off, 126
    at 0.5); with the more complete boxes of tiled detection (``tile_px`` 400) and
    ``high_score=0.55`` it cut the error from 116 to 90 (README, "Measured").
    ``direction_weight=0.9``: with YOLOX-Nano at 512 px (the default detector) it cut
    the same 58-line sum from 62 to 52, and TUD-Stadtmitte at every frame from 13 to 9
    of 93 crossings; 0.8-1.0 gave 52-53, 0.5 gave 59 and 1.2 gave 75.  NanoDet-m does
    worse with it (139 -> 151).

    Feed it detections whose scores go down to ``low_score``:
    ``NanoDetDetector(score_threshold=0.1)``; at the detector's default of 0.35 the
    second (low-score) stage gets no boxes at all.
    """

    def __init__(
        self,
        *,
        high_score: float = 0.35,
        low_score: float = 0.1,
        match_iou: float = 0.2,
        min_hits: int = 1,
        max_lost_s: float = 2.0,
        recover_dist: float = 0.0,
        direction_weight: float = 0.9,
    ) -> None:
        if not 0.0 < high_score <= 1.0:
            raise ValueError(f"high_score must be in (0, 1], got {high_score}")
        if not 0.0 <= low_score < high_score:
            raise ValueError(f"low_score must be in [0, high_score={high_score}), got {low_score}")
        if not 0.0 < match_iou <= 1.0:
            raise ValueError(f"match_iou must be in (0, 1], got {match_iou}")
        if isinstance(min_hits, bool) or not isinstance(min_hits, int) or min_hits < 1:
            raise ValueError(f"min_hits must be an integer >= 1, got {min_hits!r}")
        if not (0.0 <= max_lost_s < math.inf):
            raise ValueError(
                f"max_lost_s must be a finite number of seconds >= 0, got {max_lost_s}"
            )
        if not (0.0 <= recover_dist < math.inf):
            raise ValueError(
                f"recover_dist must be a finite number of box heights >= 0, got {recover_dist}"
            )
        if not (0.0 <= direction_weight <= 2.0):
            raise ValueError(f"direction_weight must be in [0, 2], got {direction_weight}")
        self.high_score = float(high_score)
        self.low_score = float(low_score)
        self.match_iou = float(match_iou)
        self.min_hits = min_hits
        self.max_lost_s = float(max_lost_s)
        self.recover_dist = float(recover_dist)
        self.direction_weight = float(direction_weight)
        self.reset()

    @classmethod
    def from_settings(cls, settings: TrackerSettings) -> ByteTracker:
        """A tracker with ``settings`` (a camera's ``tracking`` config section, or any
        :class:`TrackerSettings`); raises ValueError as the constructor does."""
        return cls(
            high_score=settings.high_score,
            low_score=settings.low_score,
            match_iou=settings.match_iou,
            min_hits=settings.min_hits,
            max_lost_s=settings.max_lost_s,
            recover_dist=settings.recover_dist,
            direction_weight=settings.direction_weight,
        )

    def reset(self) -> None:
        """Forget every track and restart ids from 1 (a new video, a camera cut)."""
        self._next_id = 1
        self._t: float | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._hits = np.zeros(0, dtype=np.int64)  # consecutive matches
        self._confirmed = np.zeros(0, dtype=bool)
        self._followed = np.zeros(0, dtype=bool)  # matched in the latest update
        self._last_seen_t = np.zeros(0)
        self._last_seen_xy = np.zeros((0, 2))  # box centre when last matched
        # Two older sightings, double-buffered: the direction is measured from _ref_xy
        # (1-2 windows old); _stage_xy becomes the reference once a window old.
        self._ref_xy = np.zeros((0, 2))
        self._stage_xy = np.zeros((0, 2))
        self._stage_t = np.zeros(0)

    @property
    def track_count(self) -> int:
        """Tracks held in memory now: confirmed, tentative and lost."""
        return int(self._ids.size)

    def update(self, detections: Detections, t: float) -> Detections:
        """Advance to time ``t`` (seconds) with this frame's detections.

        Returns the confirmed tracks matched in this frame, ordered by track id: boxes
        are the Kalman-corrected (posterior) boxes, which jitter less than the raw
        detections; ``score`` is the matched detection's score; ``track_id`` is set.
        A ``t`` earlier than the previous one starts a new timeline (the tracker is
        reset), since motion across a clock jump means nothing.
        """
        if not math.isfinite(t):
            raise ValueError(f"t must be a finite time in seconds, got {t}")
        if self._t is not None and t < self._t:
            self.reset()
        dt_s = 0.0 if self._t is None else t - self._t
        self._t = t
        # Expire before matching too: after a gap with no frames at all (camera down),
        # a track older than the buffer must not be found again.
        self._select(t - self._last_seen_t <= self.max_lost_s)
        self._predict(dt_s)

        xyxy = detections.xyxy.astype(np.float64)
        score = detections.score.astype(np.float64)
        high = np.flatnonzero(score >= self.high_score)
        low = np.flatnonzero((score >= self.low_score) & (score < self.high_score))

        n = self._ids.size
        det_of_track = np.full(n, -1, dtype=np.intp)
        boxes = _cxcyah_to_xyxy(self._mean[:, :4])
        # Step 2: sure boxes against every track.
        if n and high.size:
            bonus = self._direction_bonus(xyxy[high], score[high])
            r, c = linear_assignment(box_iou(boxes, xyxy[high]), self.match_iou, bonus)
            det_of_track[r] = high[c]
        # Step 3: weak boxes against tracks followed until now and still unmatched.
        pool = np.flatnonzero((det_of_track < 0) & self._followed & self._confirmed)
        if pool.size and low.size:
            min_iou = max(self.match_iou, _LOW_STAGE_MIN_IOU)
            r, c = linear_assignment(box_iou(boxes[pool], xyxy[low]), min_iou)
            det_of_track[pool[r]] = low[c]
        # Step 4: sure boxes still unmatched against lost tracks, by distance.
        if self.recover_dist > 0.0:
            self._recover(det_of_track, xyxy, high)

        matched = det_of_track >= 0
        self._correct(np.flatnonzero(matched), xyxy[det_of_track[matched]])
        self._hits = np.where(matched, self._hits + 1, 0)
        self._confirmed |= self._hits >= self.min_hits
        self._followed = matched
        self._last_seen_t = np.where(matched, t, self._last_seen_t)
        track_score = np.zeros(n)
        track_score[matched] = score[det_of_track[matched]]

        keep = matched | (self._confirmed & (t - self._last_seen_t <= self.max_lost_s))
        self._select(keep)
        track_score = track_score[keep]

        used = np.zeros(len(score), dtype=bool)
        used[det_of_track[matched]] = True
        new = high[~used[high]]
        self._start(xyxy[new], t)
        track_score = np.concatenate([track_score, score[new]])

        report = self._followed & self._confirmed
        return Detections(
            xyxy=_cxcyah_to_xyxy(self._mean[report, :4]).astype(np.float32),
            score=track_score[report].astype(np.float32),
            track_id=self._ids[report].copy(),
        )

    def _direction_bonus(self, xyxy: FloatArray, score: FloatArray) -> FloatArray | None:
        """The (tracks, boxes) motion-direction term of step 2; None when it is off."""
        if self.direction_weight == 0.0 or self._ids.size == 0:
            return None
        centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2.0
        motion = self._last_seen_xy - self._ref_xy  # (n, 2)
        intent = centre[None, :, :] - self._last_seen_xy[:, None, :]  # (n, m, 2)
        motion_len = np.hypot(motion[:, 0], motion[:, 1])
        intent_len = np.hypot(intent[..., 0], intent[..., 1])
        dot = np.einsum("nd,nmd->nm", motion, intent)
        cos = dot / np.maximum(motion_len[:, None] * intent_len, 1e-9)
        angle = np.arccos(np.clip(cos, -1.0, 1.0))
        bonus = self.direction_weight * (np.pi / 2 - angle) / np.pi * score[None, :]
        min_move = _DIRECTION_MIN_MOVE * self._mean[:, 3]
        has_direction = (motion_len > min_move)[:, None] & (intent_len > min_move[:, None])
        return np.where(has_direction, bonus, 0.0)

    def _recover(self, det_of_track: IntArray, xyxy: FloatArray, high: IntArray) -> None:
        """Give lost confirmed tracks the unmatched sure boxes near where they were last
        seen (step 4 of the module docstring); fills ``det_of_track`` in place."""
        taken = np.zeros(len(xyxy), dtype=bool)
        taken[det_of_track[det_of_track >= 0]] = True
        boxes = high[~taken[high]]
        lost = np.flatnonzero((det_of_track < 0) & self._confirmed & ~self._followed)
        if boxes.size == 0 or lost.size == 0:
            return
        z = _xyxy_to_cxcyah(xyxy[boxes])
        seen = self._last_seen_xy[lost]
        height = self._mean[lost, 3]  # barely grown or shrunk while lost (see _predict)
        dist = np.hypot(z[None, :, 0] - seen[:, None, 0], z[None, :, 1] - seen[:, None, 1])
        closeness = 1.0 - dist / (self.recover_dist * height[:, None])
        ratio = z[None, :, 3] / height[:, None]
        lo, hi = _RECOVER_HEIGHT_RATIO
        closeness[(ratio < lo) | (ratio > hi)] = -1.0
        # The assignment maximises the number of pairs inside the gate, then closeness.
        r, c = linear_assignment(closeness, np.nextafter(0.0, 1.0))
        det_of_track[lost[r]] = boxes[c]

    def _predict(self, dt_s: float) -> None:
        if self._ids.size == 0:
            return
        # As ByteTrack: a track not seen last frame does not keep growing or shrinking.
        self._mean[~self._followed, 7] = 0.0
        f = np.eye(8)
        f[:4, 4:] = dt_s * np.eye(4)
        self._mean = self._mean @ f.T
        self._cov = f @ self._cov @ f.T + _process_noise(self._mean[:, 3], dt_s)
        self._mean[:, 3] = np.maximum(self._mean[:, 3], _MIN_HEIGHT_PX)

    def _correct(self, tracks: IntArray, xyxy: FloatArray) -> None:
        """Kalman update of ``tracks`` with their matched boxes, all at once."""
        if tracks.size == 0:
            return
        mean, cov = self._mean[tracks], self._cov[tracks]
        h = mean[:, 3]
        r_std = np.stack(
            [_STD_POS * h, _STD_POS * h, np.full_like(h, _STD_ASPECT_MEAS), _STD_POS * h], axis=1
        )
        s = _H @ cov @ _H.T
        s[:, np.arange(4), np.arange(4)] += r_std**2
        cov_ht = cov @ _H.T  # (K, 8, 4)
        gain = np.linalg.solve(s, cov_ht.transpose(0, 2, 1)).transpose(0, 2, 1)
        z = _xyxy_to_cxcyah(xyxy)
        innovation = z - mean[:, :4]
        self._mean[tracks] = mean + np.einsum("kij,kj->ki", gain, innovation)
        self._last_seen_xy[tracks] = z[:, :2]
        if self._t is not None:
            due = tracks[self._t - self._stage_t[tracks] >= _DIRECTION_WINDOW_S]
            self._ref_xy[due] = self._stage_xy[due]
            self._stage_xy[due] = self._last_seen_xy[due]
            self._stage_t[due] = self._t
        self._cov[tracks] = cov - gain @ _H @ cov

    def _select(self, keep: npt.NDArray[np.bool_]) -> None:
        self._ids = self._ids[keep]
        self._mean = self._mean[keep]
        self._cov = self._cov[keep]
        self._hits = self._hits[keep]
        self._confirmed = self._confirmed[keep]
        self._followed = self._followed[keep]
        self._last_seen_t = self._last_seen_t[keep]
        self._last_seen_xy = self._last_seen_xy[keep]
        self._ref_xy = self._ref_xy[keep]
        self._stage_xy = self._stage_xy[keep]
        self._stage_t = self._stage_t[keep]

    def _start(self, xyxy: FloatArray, t: float) -> None:
        k = len(xyxy)
        if k == 0:
            return
        z = _xyxy_to_cxcyah(xyxy)
        h = z[:, 3]
        vel = _STD_VEL / _REF_DT_S
        std = np.stack(
            [
                2 * _STD_POS * h,
                2 * _STD_POS * h,
                np.full_like(h, _STD_ASPECT),
                2 * _STD_POS * h,
                10 * vel * h,
                10 * vel * h,
                np.full_like(h, _STD_ASPECT_VEL / _REF_DT_S),
                10 * vel * h,
            ],
            axis=1,
        )
        cov = np.zeros((k, 8, 8))
        cov[:, np.arange(8), np.arange(8)] = std**2
        self._ids = np.concatenate(
            [self._ids, np.arange(self._next_id, self._next_id + k, dtype=np.int64)]
        )
        self._next_id += k
        self._mean = np.concatenate([self._mean, np.hstack([z, np.zeros((k, 4))])])
        self._cov = np.concatenate([self._cov, cov])
        self._hits = np.concatenate([self._hits, np.ones(k, dtype=np.int64)])
        self._confirmed = np.concatenate([self._confirmed, np.full(k, self.min_hits <= 1)])
        self._followed = np.concatenate([self._followed, np.ones(k, dtype=bool)])
        self._last_seen_t = np.concatenate([self._last_seen_t, np.full(k, t)])
        self._last_seen_xy = np.concatenate([self._last_seen_xy, z[:, :2]])
        self._ref_xy = np.concatenate([self._ref_xy, z[:, :2]])
        self._stage_xy = np.concatenate([self._stage_xy, z[:, :2]])
        self._stage_t = np.concatenate([self._stage_t, np.full(k, t)])
