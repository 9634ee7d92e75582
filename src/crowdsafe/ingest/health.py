"""Stream health of one camera: its state and the numbers an operator needs.

States::

    starting ──> live ──> stalled ──> reconnecting ──> live
                  │                        ^   │
                  └──── error/end ─────────┘   └──> failed (keeps retrying, slowly)

``failed`` means the last attempt hit an error that retrying soon will not fix (bad
credentials, not found, not a video); the reader still retries at its longest backoff,
because a fixed password or a restarted camera should come back without a restart.
One record per camera, written by two sides: the side that reads the source (frames
received, the state; the :class:`~crowdsafe.ingest.reader.StreamReader`, or
:meth:`CameraPipeline.run <crowdsafe.pipeline.CameraPipeline.run>` on its own) and the
analysis side (frames analysed, lag: the pipeline).  Rates (``input_fps``,
``analysed_fps``) are computed here only, over the last ``window_s`` seconds.  Numbers
are written by the reader and analysis threads and read by the API, so every read goes
through :meth:`CameraHealth.snapshot` (or a property) under a lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = ["CameraHealth", "HealthSnapshot", "StreamState"]


class StreamState(StrEnum):
    STARTING = "starting"
    LIVE = "live"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class HealthSnapshot:
    camera_id: str
    state: StreamState
    since: float
    input_fps: float
    analysed_fps: float
    lag_s: float | None
    lag_p50_s: float | None
    lag_p95_s: float | None
    reconnects: int
    attempts: int
    frames_received: int
    frames_analysed: int
    last_frame_age_s: float | None
    last_error: str | None
    source: str
    # How the stream is decoded (ingest/decode.py): the mode, the keyframe interval
    # measured from its packets, and why the mode is not the one asked, if it is not.
    decode_mode: str | None = None
    keyframe_interval_frames: int | None = None
    keyframe_interval_s: float | None = None
    decode_note: str | None = None

    def to_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["state"] = self.state.value
        return d


# Frame times kept per camera for the rates (far more than a window of any camera's).
_MAX_STAMPS = 2000


def _rate(stamps: deque[float], now: float, window_s: float) -> float:
    while stamps and now - stamps[0] > window_s:
        stamps.popleft()
    if len(stamps) < 2:
        return 0.0
    span = now - stamps[0]
    return (len(stamps) - 1) / span if span > 0 else 0.0


class CameraHealth:
    """Thread-safe health record of one camera."""

    def __init__(self, camera_id: str, source: str, clock: Callable[[], float] = time.time) -> None:
        self.camera_id = camera_id
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._state = StreamState.STARTING
        self._since = clock()
        # Bounded by the deque itself: an append drops the oldest stamp when full, with
        # no length check per frame (rates read the last window_s of them anyway).
        self._decoded: deque[float] = deque(maxlen=_MAX_STAMPS)
        self._analysed: deque[float] = deque(maxlen=_MAX_STAMPS)
        self._lags: deque[float] = deque(maxlen=300)
        self._reconnects = 0
        self._attempts = 0
        self._frames_received = 0
        self._frames_analysed = 0
        self._last_frame_at: float | None = None
        self._last_error: str | None = None
        self._decode: tuple[str, int | None, float | None, str | None] | None = None
        self.window_s = 10.0

    @property
    def state(self) -> StreamState:
        with self._lock:
            return self._state

    @property
    def frames_analysed(self) -> int:
        """Frames analysed so far (cheaper than a :meth:`snapshot`)."""
        with self._lock:
            return self._frames_analysed

    def now(self) -> float:
        """The time on this record's clock (Unix seconds unless a test gave another):
        the clock that ``at`` of :meth:`frame_received` and :meth:`frame_analysed` uses."""
        return self._clock()

    def set_state(self, state: StreamState, error: str | None = None) -> None:
        with self._lock:
            if state is not self._state:
                self._state = state
                self._since = self._clock()
            if error is not None:
                self._last_error = error

    def attempted(self) -> None:
        with self._lock:
            self._attempts += 1

    def reconnected(self) -> None:
        with self._lock:
            self._reconnects += 1

    def set_decode(
        self,
        mode: str,
        keyframe_interval_frames: int | None,
        keyframe_interval_s: float | None,
        note: str | None,
    ) -> None:
        """The decode mode in use, the measured keyframe interval (None: not yet) and
        why the mode differs from the one asked (None when it does not)."""
        with self._lock:
            self._decode = (mode, keyframe_interval_frames, keyframe_interval_s, note)

    def frame_received(self, at: float) -> None:
        with self._lock:
            self._frames_received += 1
            self._decoded.append(at)
            self._last_frame_at = at

    def frame_analysed(self, at: float, lag_s: float) -> None:
        """One frame analysed at ``at`` (this record's clock), ``lag_s`` seconds after it
        was captured (0 where capture times are not wall-clock times)."""
        with self._lock:
            self._frames_analysed += 1
            self._analysed.append(at)
            self._lags.append(lag_s)

    def lags(self) -> list[float]:
        with self._lock:
            return list(self._lags)

    def brief(self) -> tuple[StreamState, float, float | None]:
        """(state, analysed fps, seconds since the last frame or None): what a fleet
        worker reports of each of its thousands of cameras every few seconds, without
        the lag percentiles of :meth:`snapshot`."""
        now = self._clock()
        with self._lock:
            last = self._last_frame_at
            return (
                self._state,
                round(_rate(self._analysed, now, self.window_s), 2),
                None if last is None else round(now - last, 3),
            )

    def snapshot(self) -> HealthSnapshot:
        now = self._clock()
        with self._lock:
            mode, kf_frames, kf_s, note = self._decode or (None, None, None, None)
            lags = np.asarray(self._lags, dtype=np.float64)
            has_lag = lags.size > 0
            return HealthSnapshot(
                camera_id=self.camera_id,
                state=self._state,
                since=self._since,
                input_fps=round(_rate(self._decoded, now, self.window_s), 2),
                analysed_fps=round(_rate(self._analysed, now, self.window_s), 2),
                lag_s=round(float(lags[-1]), 3) if has_lag else None,
                lag_p50_s=round(float(np.percentile(lags, 50)), 3) if has_lag else None,
                lag_p95_s=round(float(np.percentile(lags, 95)), 3) if has_lag else None,
                reconnects=self._reconnects,
                attempts=self._attempts,
                frames_received=self._frames_received,
                frames_analysed=self._frames_analysed,
                last_frame_age_s=(
                    None if self._last_frame_at is None else round(now - self._last_frame_at, 3)
                ),
                last_error=self._last_error,
                source=self.source,
                decode_mode=mode,
                keyframe_interval_frames=kf_frames,
                keyframe_interval_s=None if kf_s is None else round(kf_s, 3),
                decode_note=note,
            )
