"""One node's share of a fleet: the ordinary :class:`~crowdsafe.runtime.Runtime` for the
cameras the controller assigns to it, writing to the shared PostgreSQL store.

The controller makes one :class:`FleetWorker` actor per node (``controller.py``); this
module does not import Ray, so the worker is tested and read as a plain class.  What
it adds to the runtime, and why:

* ``assign(camera_ids)`` adds and removes cameras without restarting the others (a
  move must not cost the cameras that stay their connections and trackers); a removed
  camera's open buckets are stored first, so what it measured is kept, and it is stored
  under the same ``(zone, t)`` key its next owner writes to, so a move never makes a
  second row for one bucket;
* every ``status_interval_s`` it writes its cameras' health to ``camera_status``, so
  any API server shows each camera's state and node;
* an operator's acknowledgement or resolution, stored by whichever API server took it,
  reaches this worker's alert engine: on ``NOTIFY crowdsafe_alert_state`` (payload: the
  alert id) at once, and by re-reading its open alerts every ``alert_poll_s`` in case
  a notification was missed (PostgreSQL does not replay them).  The engine then stops
  treating the alert as open, as it would in one process (``alerts/engine.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from crowdsafe.cluster.events import AlertEventSender
from crowdsafe.cluster.listen import ALERT_STATE_CHANNEL, ChannelListener
from crowdsafe.cluster.registry import CameraStatus, FleetRegistry
from crowdsafe.config import ClusterConfig, CrowdsafeConfig
from crowdsafe.config.storage import shared_store
from crowdsafe.detect.base import Detector
from crowdsafe.gcpolicy import collect_young_less_often
from crowdsafe.types import Alert, AlertState

if TYPE_CHECKING:
    from crowdsafe.runtime import Runtime
    from crowdsafe.store.base import Store

__all__ = ["DetectorFactory", "FleetWorker"]

log = logging.getLogger(__name__)

DetectorFactory = Callable[[], Detector]
"""Builds the detector a worker runs instead of the config's (a scripted one in tests)."""

_ACTIVE = [AlertState.OPEN, AlertState.ACKNOWLEDGED]


class FleetWorker:
    """Runs the cameras assigned to it on ``node_id``; thread-safe (a Ray actor with
    several concurrent calls).  Raises ConfigError unless the store is PostgreSQL."""

    def __init__(
        self,
        config: CrowdsafeConfig,
        node_id: str,
        name: str,
        detector_factory: DetectorFactory | None = None,
    ) -> None:
        from crowdsafe.assembly import build_store
        from crowdsafe.store.queued import QueuedStore

        storage = shared_store(config.storage, "fleet worker")
        self.config = config
        self.cluster = config.cluster or ClusterConfig()
        self.node_id = node_id
        self.name = name
        # by id: a worker of a city adds thousands (config.camera() is a linear search)
        self._camera_configs = {c.id: c for c in config.cameras}
        self._lock = threading.Lock()
        # The store is given, so the runtime runs no rollup and retention loop: one per
        # worker on one database would repeat the same work; the API servers run it.
        store = QueuedStore(build_store(config), backlog_max=storage.backlog_max)
        detector = detector_factory() if detector_factory is not None else None
        self.runtime = self._runtime(config, detector, store)
        collect_young_less_often()  # a worker's cameras churn young objects (gcpolicy.py)
        self.runtime.start()
        self.registry = FleetRegistry(storage.dsn, connect_timeout_s=storage.connect_timeout_s)
        self.alerts_applied = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._status_forever, name="fleet-status", daemon=True),
            threading.Thread(target=self._poll_alerts_forever, name="fleet-alerts", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._listener = ChannelListener(
            storage.dsn, ALERT_STATE_CHANNEL, self._alert_changed, on_connect=self.refresh_alerts
        )
        # The engine's events (opened, escalated, resolved) go to every API server's
        # dashboards by NOTIFY, from a thread of their own: the engine runs on the
        # analysis thread, which must never wait on the database.
        self._events = AlertEventSender(storage.dsn, connect_timeout_s=storage.connect_timeout_s)
        self.runtime.alerts.on_event.append(self._events.send)

    def _runtime(self, config: CrowdsafeConfig, detector: Detector | None, store: Store) -> Runtime:
        """The runtime of this worker's cameras, none yet (``cluster/synthetic.py``
        gives one that steps scripted cameras instead of reading streams)."""
        from crowdsafe.runtime import Runtime

        return Runtime(config, detector=detector, store=store, camera_ids=())

    # --- what the controller asks --------------------------------------------------

    def ping(self) -> list[str]:
        """The cameras running here, sorted."""
        return sorted(self.runtime.cameras)

    def assign(self, camera_ids: list[str], *, add: bool = True) -> list[str]:
        """Run exactly ``camera_ids``: remove the others first (their buckets stored),
        then add the new ones (unless not ``add``: only remove); the cameras kept are
        not touched.  Returns the cameras running.  An id the config does not have is
        logged and skipped."""
        wanted = set(camera_ids)
        with self._lock:
            for camera_id in sorted(set(self.runtime.cameras) - wanted):
                self.runtime.remove_camera(camera_id)
            if not add:
                return sorted(self.runtime.cameras)
            added = []
            for camera_id in sorted(wanted - set(self.runtime.cameras)):
                camera = self._camera_configs.get(camera_id)
                if camera is None:
                    log.error("worker %s: camera %s is not in the config", self.name, camera_id)
                    continue
                self.runtime.add_camera(camera)
                added.append(camera_id)
            if added:
                self._adopt_open_alerts(set(added))
            return sorted(self.runtime.cameras)

    def alert_view(self, alert_id: str) -> str | None:
        """The state this worker's alert engine holds for ``alert_id`` ("open",
        "acknowledged"), or None when it holds it as no longer active."""
        for alert in self.runtime.alerts.active_alerts():
            if alert.id == alert_id:
                return alert.state.value
        return None

    def stop(self) -> None:
        """Store every camera's open buckets and close; the actor can then be killed."""
        self._stop.set()
        self._listener.close()
        self._events.close()
        for thread in self._threads:
            thread.join(5.0)
        self.runtime.close()
        self.registry.close()

    # --- alert states set by operators elsewhere -------------------------------------

    def _owns(self, alert: Alert) -> bool:
        return alert.camera_id in self.runtime.cameras

    def _adopt(self, alert: Alert) -> None:
        if self._owns(alert) and self.runtime.alerts.adopt(alert):
            self.alerts_applied += 1
            log.info("worker %s: alert %s is %s", self.name, alert.id, alert.state.value)

    def _adopt_open_alerts(self, camera_ids: set[str]) -> None:
        for alert in self.runtime.store.alerts(_ACTIVE):
            if alert.camera_id in camera_ids:
                self.runtime.alerts.adopt(alert)

    def _alert_changed(self, alert_id: str) -> None:
        alert = self.runtime.store.get_alert(alert_id)
        if alert is not None:
            self._adopt(alert)

    def refresh_alerts(self) -> None:
        """Re-read the alerts this worker's engine holds as active, and take the
        operators' states from the store."""
        for held in self.runtime.alerts.active_alerts():
            if self._owns(held):
                stored = self.runtime.store.get_alert(held.id)
                if stored is not None and stored.state is not held.state:
                    self._adopt(stored)

    def _poll_alerts_forever(self) -> None:
        while not self._stop.wait(self.cluster.alert_poll_s):
            try:
                self.refresh_alerts()
            except Exception:  # the store may be down a while: the next poll retries
                log.exception("worker %s: reading alert states failed", self.name)

    # --- camera health for every API server ---------------------------------------------

    def statuses(self) -> list[CameraStatus]:
        now = time.time()
        out = []
        for camera_id, cam in list(self.runtime.cameras.items()):
            state, fps, waited = cam.health.brief()
            out.append(
                CameraStatus(
                    camera_id=camera_id,
                    node_id=self.node_id,
                    state=state.value,
                    analysed_fps=fps,
                    last_frame_at=None if waited is None else now - waited,
                    updated_at=now,
                )
            )
        return out

    def _status_forever(self) -> None:
        while not self._stop.wait(self.cluster.status_interval_s):
            try:
                self.registry.write_statuses(self.statuses())
            except Exception:  # the store may be down a while: the next round retries
                log.exception("worker %s: writing camera status failed", self.name)
