"""The detector plug-in point: one protocol with one verb, and a fake for tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from crowdsafe.types import Detections, Frame

__all__ = ["Detector", "FakeDetector"]


@runtime_checkable
class Detector(Protocol):
    """Finds people in a frame.  Implementations keep the person class only."""

    def detect(self, frame: Frame) -> Detections:
        """Return the people in ``frame``, boxes in the frame's own pixel coordinates."""
        ...


class FakeDetector:
    """A detector scripted by a function of the frame, for tests and dry runs.

    ``FakeDetector(lambda frame: Detections(...))`` returns whatever the function
    returns; ``FakeDetector()`` finds nobody.  ``calls`` counts invocations.
    """

    def __init__(self, script: Callable[[Frame], Detections] | None = None) -> None:
        self._script = script
        self.calls = 0

    def detect(self, frame: Frame) -> Detections:
        self.calls += 1
        if self._script is None:
            return Detections()
        return self._script(frame)
