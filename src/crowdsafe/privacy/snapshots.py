"""Alert snapshots: one anonymised JPEG per alert, deleted after the retention period.

Rules, and why:

* Only anonymised pixels are ever written: :meth:`SnapshotStore.save` takes JPEG bytes
  that the runtime encoded from an anonymised frame; nothing here sees a raw frame.
* A snapshot is named by its alert id and nothing else (no camera time, no person).
* Retention is enforced by a purge that runs on its own (:class:`RetentionPurger`), not
  by a cron job someone has to remember; the clock is injectable so tests can prove it.
  A file's age is its modification time, set from that clock when it is written.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from crowdsafe.errors import StoreError

__all__ = ["RetentionPurger", "SnapshotStore"]

log = logging.getLogger(__name__)

_ALERT_ID = re.compile(r"^[0-9a-f]{32}$")


class SnapshotStore:
    """A folder of ``<alert id>.jpg`` files, none older than ``retention_s``."""

    def __init__(
        self, folder: Path, retention_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be > 0, got {retention_s}")
        self.folder = folder
        self.retention_s = retention_s
        self._clock = clock
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the snapshot folder {folder}: {exc}") from exc

    def _path(self, alert_id: str) -> Path:
        if not _ALERT_ID.match(alert_id):
            raise ValueError(f"not an alert id: {alert_id!r}")
        return self.folder / f"{alert_id}.jpg"

    def save(self, alert_id: str, jpeg: bytes) -> Path:
        """Write one snapshot (atomically: a reader never sees half a file)."""
        path = self._path(alert_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(jpeg)
        now = self._clock()
        os.utime(tmp, (now, now))
        tmp.replace(path)
        return path

    def get(self, alert_id: str) -> bytes | None:
        """The snapshot of an alert, or None if there is none (or it has expired)."""
        try:
            path = self._path(alert_id)
        except ValueError:
            return None
        try:
            if path.stat().st_mtime < self._clock() - self.retention_s:
                return None  # expired; the next purge deletes it
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def purge(self) -> int:
        """Delete snapshots older than the retention period; returns how many."""
        cutoff = self._clock() - self.retention_s
        removed = 0
        for path in self.folder.glob("*.jpg"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("purged %d snapshot(s) older than %.0f h", removed, self.retention_s / 3600)
        return removed


class RetentionPurger:
    """Runs :meth:`SnapshotStore.purge` every ``interval_s`` in a daemon thread."""

    def __init__(self, store: SnapshotStore, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshot-purge", daemon=True)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.store.purge()
            except OSError:
                log.exception("snapshot purge failed")
            self.runs += 1
            if self._stop.wait(self.interval_s):
                return

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
