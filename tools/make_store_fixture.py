"""Writes ``tests/data/store-schema4.db``: a SQLite store made by crowdsafe 0.1.0 as
released before Alembic (hand-written schema version 4), for the in-place upgrade test.

Run once, from the release (commit 2a53fb6), as
``python tools/make_store_fixture.py tests/data/store-schema4.db``; the file is
committed, so later releases are tested against what the old one really wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

from crowdsafe.store import SQLiteStore
from crowdsafe.types import (
    Alert,
    AlertLevel,
    AlertRule,
    AlertState,
    CountMethod,
    LevelOfService,
    LineSample,
    SubjectKind,
    ZoneSample,
)

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def main(path: Path) -> None:
    path.unlink(missing_ok=True)
    store = SQLiteStore(path)
    samples = [
        ZoneSample(
            camera_id="cam1",
            zone_id=zone,
            t=T0 + i,
            count=float(i % 7) + 0.5,
            count_max=i % 7 + 2,
            area_m2=40.0,
            density_per_m2=(i % 7 + 0.5) / 40.0,
            los=LevelOfService.A if i % 7 < 5 else LevelOfService.B,
            frames=5,
            density_low_per_m2=0.5 * (i % 7) / 40.0,
            density_high_per_m2=1.5 * (i % 7 + 1) / 40.0,
            method=CountMethod.DENSITY if i % 11 == 0 else CountMethod.DETECTION,
            held=i % 5 == 0,
        )
        for zone in ("gate", "hall")
        for i in range(150)  # two and a half minutes
    ]
    store.write_samples(samples)
    store.write_line_samples(
        [
            LineSample(
                "cam1", "exit", T0 + 60.0 * k, 60.0, 3 + k, 1, 2.5, (4 + k) / 2.5, LevelOfService.A
            )
            for k in range(3)
        ]
    )
    store.save_alert(
        Alert(
            id="a1",
            rule=AlertRule.DENSITY,
            subject_kind=SubjectKind.ZONE,
            subject_id="hall",
            camera_id="cam1",
            level=AlertLevel.WARNING,
            state=AlertState.ACKNOWLEDGED,
            message="hall: density 0.16/m2 above 0.15/m2",
            value=0.16,
            threshold=0.15,
            opened_at=T0 + 30.0,
            updated_at=T0 + 40.0,
            acknowledged_at=T0 + 40.0,
        )
    )
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
