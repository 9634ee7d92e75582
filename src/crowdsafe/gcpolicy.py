"""How often the garbage collector looks at young objects, in processes of many cameras.

CPython collects its youngest generation after every 700 net allocations of container
objects, and each collection walks every young object still alive.  A process analysing
thousands of cameras replaces each camera's state every tick (its samples, counts,
detections and bucket: some nine objects per camera, and the samples waiting in the
write queue), so all of that state is young at every collection.  A fleet worker of
2,000 scripted cameras on PostgreSQL spent 15 % of its CPU in some 250 collections a
30 s; at a threshold of 20,000 it collected once, and used 10 to 29 % less CPU in all
(``tools/bench_fleet_worker.py --young-threshold 700`` against its default, two runs
each way).  The API server of a fleet, which hears 24,000 samples a second, is alike.
Objects are still freed at once by reference counting; only garbage in cycles waits
longer, and no more than the threshold's worth of it.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["YOUNG_THRESHOLD", "collect_young_less_often"]

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 20_000
"""Net allocations between collections of the youngest generation (CPython: 700)."""


def collect_young_less_often(threshold: int = YOUNG_THRESHOLD) -> None:
    """Raise the youngest generation's threshold to ``threshold`` (never lower it, and
    leave the older generations' as they are)."""
    young, middle, old = gc.get_threshold()
    if young and young < threshold:  # 0: collection is off, and stays so
        gc.set_threshold(threshold, middle, old)
        log.debug("garbage collector: young threshold %d -> %d", young, threshold)
