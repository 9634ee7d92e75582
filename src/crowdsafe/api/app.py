"""The HTTP API and the dashboard, in one FastAPI app.

Routes are thin: they read the runtime's configuration and the store, and hold no SQL.
The live feed is server-sent events (``/api/live``): one ``sample`` event per zone
sample, a comment line every 15 s so proxies keep the connection open.  Nothing here
serves pixels: the dashboard shows numbers only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from crowdsafe import __version__
from crowdsafe.alerts.engine import AlertNotFound, AlertStateError
from crowdsafe.alerts.sinks import SinkHealth
from crowdsafe.api.live import LiveFeed
from crowdsafe.api.metrics import METRICS_CONTENT_TYPE, render_metrics
from crowdsafe.api.schemas import (
    AlertPublic,
    CameraHealthPublic,
    CameraPublic,
    Health,
    LinePublic,
    LineSamplePublic,
    LineSeriesPublic,
    SeriesPublic,
    SinkHealthPublic,
    ZonePublic,
    ZoneSamplePublic,
)
from crowdsafe.runtime import Runtime
from crowdsafe.store.base import Store
from crowdsafe.types import Alert, AlertState

__all__ = ["create_app"]

T = TypeVar("T")

HEARTBEAT_S = 15.0
# Pixels, even anonymised, must not linger in browser or proxy caches.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _web_file(name: str) -> str:
    return str(resources.files("crowdsafe") / "web" / name)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_store(request: Request) -> Store:
    return get_runtime(request).store


def get_feed(request: Request) -> LiveFeed:
    return get_runtime(request).feed


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
StoreDep = Annotated[Store, Depends(get_store)]
FeedDep = Annotated[LiveFeed, Depends(get_feed)]


def _check_window(
    kind: str, item_id: str, known: set[str], since: float | None, until: float | None
) -> None:
    """404 for an unknown zone or line (naming the known ones), 422 for an empty window."""
    if item_id not in known:
        names = ", ".join(sorted(known)) or "none"
        raise HTTPException(404, f"unknown {kind} '{item_id}'; known {kind}s: {names}")
    if since is not None and until is not None and until <= since:
        raise HTTPException(422, f"until ({until}) must be later than since ({since})")


def _sink_state(h: SinkHealth) -> str:
    """ok, disconnected (MQTT down) or failing (the last delivery did not get through)."""
    if h.connected is False:
        return "disconnected"
    if h.last_error is not None and (h.last_success_at is None or h.failed or h.queue_depth):
        return "failing"
    return "ok"


def _alert_action(action: Callable[[str], Alert], alert_id: str) -> AlertPublic:
    try:
        return AlertPublic.model_validate(action(alert_id).to_dict())
    except AlertNotFound as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from None
    except AlertStateError as exc:
        raise HTTPException(409, str(exc)) from None


def _forecast_call(fn: Callable[[], T]) -> T:
    """Run a forecast request, turning its errors into HTTP answers."""
    from crowdsafe.forecast.service import InsufficientHistory, UnknownZone

    try:
        return fn()
    except UnknownZone as exc:
        raise HTTPException(404, str(exc)) from None
    except InsufficientHistory as exc:
        raise HTTPException(409, str(exc)) from None


def create_app(runtime: Runtime) -> FastAPI:
    """An app serving ``runtime``'s cameras, zones, stored series and live feed."""
    app = FastAPI(title="crowdsafe", version=__version__, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime

    @app.get("/healthz", response_model=Health)
    def healthz(rt: RuntimeDep) -> Health:
        states = {cid: cam.health.state.value for cid, cam in rt.cameras.items()}
        sinks = {s.name: _sink_state(s.health()) for s in rt.sinks}
        ok = all(s in ("live", "stopped") for s in states.values()) and all(
            v == "ok" for v in sinks.values()
        )
        return Health(
            status="ok" if ok else "degraded", site=rt.config.site, cameras=states, sinks=sinks
        )

    @app.get("/api/cameras", response_model=list[CameraPublic])
    def cameras(rt: RuntimeDep) -> list[CameraPublic]:
        return [
            CameraPublic(
                id=cid,
                name=cam.config.display_name,
                zones=[z.id for z in cam.zones],
                health=CameraHealthPublic.model_validate(cam.health.snapshot().to_dict()),
            )
            for cid, cam in rt.cameras.items()
        ]

    @app.get("/api/cameras/{camera_id}/health", response_model=CameraHealthPublic)
    def camera_health(camera_id: str, rt: RuntimeDep) -> CameraHealthPublic:
        cam = rt.cameras.get(camera_id)
        if cam is None:
            known = ", ".join(sorted(rt.cameras))
            raise HTTPException(404, f"unknown camera '{camera_id}'; known cameras: {known}")
        return CameraHealthPublic.model_validate(cam.health.snapshot().to_dict())

    @app.get("/api/lines", response_model=list[LinePublic])
    def lines(rt: RuntimeDep, store: StoreDep) -> list[LinePublic]:
        out = []
        for ln in rt.lines():
            latest = store.line_series(ln.id, limit=1)
            out.append(
                LinePublic(
                    id=ln.id,
                    camera_id=ln.camera_id,
                    name=ln.name,
                    points_px=[ln.p1, ln.p2],
                    width_m=round(ln.width_m, 3),
                    latest=LineSamplePublic.of(latest[0]) if latest else None,
                )
            )
        return out

    @app.get("/api/lines/{line_id}/series", response_model=LineSeriesPublic)
    def line_series(
        line_id: str,
        rt: RuntimeDep,
        store: StoreDep,
        since: Annotated[float | None, Query(description="Unix seconds, inclusive.")] = None,
        until: Annotated[float | None, Query(description="Unix seconds, exclusive.")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> LineSeriesPublic:
        _check_window("line", line_id, {ln.id for ln in rt.lines()}, since, until)
        samples = store.line_series(line_id, since, until, limit)
        return LineSeriesPublic(
            line_id=line_id,
            since=since,
            until=until,
            samples=[LineSamplePublic.of(s) for s in samples],
        )

    @app.get("/api/alerts", response_model=list[AlertPublic])
    def alerts(
        store: StoreDep,
        state: Annotated[
            Literal["active", "open", "acknowledged", "resolved", "all"],
            Query(description="active = open or acknowledged."),
        ] = "active",
        since: Annotated[float | None, Query(description="Updated since, Unix s.")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> list[AlertPublic]:
        if state == "active":
            states = [AlertState.OPEN, AlertState.ACKNOWLEDGED]
        elif state == "all":
            states = list(AlertState)
        else:
            states = [AlertState(state)]
        return [AlertPublic.model_validate(a.to_dict()) for a in store.alerts(states, since, limit)]

    @app.post("/api/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
    def acknowledge(alert_id: str, rt: RuntimeDep) -> AlertPublic:
        return _alert_action(rt.alerts.acknowledge, alert_id)

    @app.post("/api/alerts/{alert_id}/resolve", response_model=AlertPublic)
    def resolve(alert_id: str, rt: RuntimeDep) -> AlertPublic:
        return _alert_action(rt.alerts.resolve, alert_id)

    @app.get("/api/sinks", response_model=list[SinkHealthPublic])
    def sinks(rt: RuntimeDep) -> list[SinkHealthPublic]:
        return [SinkHealthPublic.model_validate(s.health().to_dict()) for s in rt.sinks]

    @app.get(
        "/api/cameras/{camera_id}/live.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def live_view(camera_id: str, rt: RuntimeDep) -> Response:
        """The camera's latest frame with faces and heads pixelated (never raw pixels)."""
        if camera_id not in rt.cameras:
            known = ", ".join(sorted(rt.cameras))
            raise HTTPException(404, f"unknown camera '{camera_id}'; known cameras: {known}")
        if not rt.config.privacy.live_view:
            raise HTTPException(403, "the live view is switched off (privacy.live_view: false)")
        jpeg = rt.anonymised_jpeg(camera_id)
        if jpeg is None:
            raise HTTPException(503, f"camera '{camera_id}' has no analysed frame yet")
        return Response(jpeg, media_type="image/jpeg", headers=_NO_STORE)

    @app.get(
        "/api/alerts/{alert_id}/snapshot.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def snapshot(alert_id: str, rt: RuntimeDep) -> Response:
        """The anonymised snapshot taken when the alert opened, while it is retained."""
        jpeg = rt.snapshots.get(alert_id) if rt.snapshots is not None else None
        if jpeg is None:
            raise HTTPException(404, f"no snapshot for alert '{alert_id}' (none, or expired)")
        return Response(jpeg, media_type="image/jpeg", headers=_NO_STORE)

    @app.get("/metrics", include_in_schema=False)
    def metrics(rt: RuntimeDep) -> Response:
        return Response(render_metrics(rt), media_type=METRICS_CONTENT_TYPE)

    @app.get("/api/zones", response_model=list[ZonePublic])
    def zones(rt: RuntimeDep, store: StoreDep) -> list[ZonePublic]:
        out = []
        for z in rt.zones():
            latest = store.latest(z.id)
            out.append(
                ZonePublic(
                    id=z.id,
                    camera_id=z.camera_id,
                    status="ok" if rt.zone_has_data(z) else "no_data",
                    name=z.name,
                    profile=z.profile,
                    area_m2=round(z.area_m2, 3),
                    polygon_px=[(float(x), float(y)) for x, y in z.polygon_px],
                    latest=None if latest is None else ZoneSamplePublic.of(latest),
                )
            )
        return out

    @app.get("/api/zones/{zone_id}/series", response_model=SeriesPublic)
    def series(
        zone_id: str,
        rt: RuntimeDep,
        store: StoreDep,
        since: Annotated[float | None, Query(description="Unix seconds, inclusive.")] = None,
        until: Annotated[float | None, Query(description="Unix seconds, exclusive.")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> SeriesPublic:
        _check_window("zone", zone_id, {z.id for z in rt.zones()}, since, until)
        samples = store.series(zone_id, since, until, limit)
        return SeriesPublic(
            zone_id=zone_id,
            since=since,
            until=until,
            samples=[ZoneSamplePublic.of(s) for s in samples],
        )

    @app.get("/api/zones/{zone_id}/forecast")
    def zone_forecast(
        zone_id: str,
        rt: RuntimeDep,
        hours: Annotated[int | None, Query(ge=1, le=168, description="Hours ahead.")] = None,
    ) -> dict[str, Any]:
        """Planning forecast of the zone's hourly count, with 80 % and 95 % intervals."""
        return _forecast_call(lambda: rt.forecast.planning(zone_id, hours))

    @app.get("/api/zones/{zone_id}/nowcast")
    def zone_nowcast(zone_id: str, rt: RuntimeDep) -> dict[str, Any]:
        """The zone's count and density 5, 15, 30 and 60 minutes ahead."""
        return _forecast_call(lambda: rt.forecast.nowcast(zone_id))

    @app.get("/api/staffing")
    def staffing(
        rt: RuntimeDep,
        hours: Annotated[int | None, Query(ge=1, le=168, description="Hours ahead.")] = None,
    ) -> dict[str, Any]:
        """Stewards per zone per hour from the planning forecast, and the rules used."""
        plan, skipped = _forecast_call(lambda: rt.forecast.staffing(hours))
        return {
            "rules": {
                "persons_per_steward": plan.rules.persons_per_steward,
                "minimum": plan.rules.minimum,
                "uplift": dict(plan.rules.uplift),
            },
            "slots": [s.to_dict() for s in plan.slots],
            "total_by_slot": [{"t": t, "stewards": n} for t, n in plan.total_by_slot().items()],
            "zones_without_forecast": skipped,
        }

    @app.get("/api/staffing.csv", include_in_schema=True)
    def staffing_csv(
        rt: RuntimeDep,
        hours: Annotated[int | None, Query(ge=1, le=168, description="Hours ahead.")] = None,
    ) -> Response:
        """The staffing plan as CSV, one row per zone and hour."""
        plan, _ = _forecast_call(lambda: rt.forecast.staffing(hours))
        return Response(
            plan.to_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="staffing.csv"'},
        )

    @app.get("/api/live")
    async def live(request: Request, feed: FeedDep) -> StreamingResponse:
        queue = feed.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                for s in feed.latest().values():
                    yield f"event: sample\ndata: {json.dumps(s.to_dict())}\n\n"
                for ln in feed.latest_lines().values():
                    yield f"event: line\ndata: {json.dumps(ln.to_dict())}\n\n"
                last = time.monotonic()
                while not await request.is_disconnected():
                    try:
                        name, payload = await asyncio.wait_for(queue.get(), timeout=1.0)
                    except TimeoutError:
                        if time.monotonic() - last > HEARTBEAT_S:
                            last = time.monotonic()
                            yield ": keep-alive\n\n"
                        continue
                    yield f"event: {name}\ndata: {json.dumps(payload)}\n\n"
            finally:
                feed.unsubscribe(queue)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(_web_file("index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/dashboard.js", include_in_schema=False)
    def dashboard_js() -> FileResponse:
        return FileResponse(_web_file("dashboard.js"), media_type="text/javascript")

    @app.get("/dashboard.css", include_in_schema=False)
    def dashboard_css() -> FileResponse:
        return FileResponse(_web_file("dashboard.css"), media_type="text/css")

    return app
