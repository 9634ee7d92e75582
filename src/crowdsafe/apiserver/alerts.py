"""An operator's acknowledge and resolve from an API server, told to the whole fleet.

The transition itself is the alert engine's (read the alert from the store, check it may
change, save it), so an API server and a runtime refuse the same transitions.  Then,
after the save has committed, the alert's id goes out on ``crowdsafe_alert_state``:
the worker owning the zone applies the operator's state to its own engine (it also polls
its open alerts, so a notification lost while the database restarts is only late), and
every API server tells its dashboards.
"""

from __future__ import annotations

import logging

import psycopg

from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.store.notify import ALERT_STATE, notify
from crowdsafe.types import Alert

__all__ = ["FleetAlerts"]

log = logging.getLogger(__name__)


class FleetAlerts:
    """:class:`~crowdsafe.site.AlertLifecycle` over the shared store, notifying the fleet."""

    def __init__(self, engine: AlertEngine, dsn: str) -> None:
        self.engine = engine
        self.dsn = dsn

    def acknowledge(self, alert_id: str) -> Alert:
        return self._told(self.engine.acknowledge(alert_id))

    def resolve(self, alert_id: str) -> Alert:
        return self._told(self.engine.resolve(alert_id))

    def _told(self, alert: Alert) -> Alert:
        # The state is stored (committed) already; a notification that cannot be sent
        # is not the operator's failure: the owning worker's poll finds it.
        try:
            with psycopg.connect(
                self.dsn, autocommit=True, application_name="crowdsafe-api"
            ) as conn:
                notify(conn, ALERT_STATE, alert.id)
        except psycopg.Error as exc:
            log.warning("alert %s stored, but not notified: %s", alert.id, exc)
        return alert
