"""``/healthz`` (the one route that will never need a login), alert sinks, ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from crowdsafe.alerts.base import SinkHealth
from crowdsafe.api.deps import SiteDep
from crowdsafe.api.metrics import METRICS_CONTENT_TYPE, render_metrics
from crowdsafe.api.schemas import Health, SinkHealthPublic
from crowdsafe.ingest.health import StreamState
from crowdsafe.store.queued import store_health

__all__ = ["router", "sink_state"]

router = APIRouter()

_FINE = (StreamState.LIVE, StreamState.STOPPED)


def sink_state(h: SinkHealth) -> str:
    """ok, disconnected (MQTT down) or failing (the last delivery did not get through)."""
    if h.connected is False:
        return "disconnected"
    if h.last_error is not None and (h.last_success_at is None or h.failed or h.queue_depth):
        return "failing"
    return "ok"


@router.get("/healthz", response_model=Health)
def healthz(site: SiteDep) -> Health:
    """ok while every camera is live (or has ended), every sink delivers and the store
    takes the writes."""
    states = {c.id: c.health.state for c in site.camera_infos()}
    sinks = {s.name: sink_state(s) for s in site.sink_health()}
    store = store_health(site.store)
    store_state = "ok" if store is None else store.state
    ok = (
        all(s in _FINE for s in states.values())
        and all(v == "ok" for v in sinks.values())
        and store_state == "ok"
    )
    return Health(
        status="ok" if ok else "degraded",
        site=site.name,
        cameras={cid: s.value for cid, s in states.items()},
        sinks=sinks,
        store=store_state,
    )


@router.get("/api/sinks", response_model=list[SinkHealthPublic])
def sinks(site: SiteDep) -> list[SinkHealthPublic]:
    """Delivery health of each alert sink (never a secret)."""
    return [SinkHealthPublic.model_validate(h.to_dict()) for h in site.sink_health()]


@router.get("/metrics", include_in_schema=False)
def metrics(site: SiteDep) -> Response:
    return Response(render_metrics(site), media_type=METRICS_CONTENT_TYPE)
