"""The source plug-in point: something that yields :class:`Frame`s."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from crowdsafe.types import Frame

__all__ = ["ScriptedSource", "Source"]


class Source(Protocol):
    """Yields frames in time order until it ends or is closed."""

    camera_id: str

    def frames(self) -> Iterator[Frame]:
        """Iterate over frames; raises an :class:`~crowdsafe.errors.IngestError` on failure."""
        ...

    def close(self) -> None:
        """Stop: a running :meth:`frames` iteration ends at its next frame."""
        ...


class ScriptedSource:
    """A source that replays given frames, for tests."""

    def __init__(self, camera_id: str, frames: Iterable[Frame]) -> None:
        self.camera_id = camera_id
        self._frames = list(frames)
        self._closed = False

    def frames(self) -> Iterator[Frame]:
        for frame in self._frames:
            if self._closed:
                return
            yield frame

    def close(self) -> None:
        self._closed = True
