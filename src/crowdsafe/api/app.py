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
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from crowdsafe import __version__
from crowdsafe.api.live import LiveFeed
from crowdsafe.api.metrics import METRICS_CONTENT_TYPE, render_metrics
from crowdsafe.api.schemas import (
    CameraHealthPublic,
    CameraPublic,
    Health,
    SeriesPublic,
    ZonePublic,
    ZoneSamplePublic,
)
from crowdsafe.runtime import Runtime
from crowdsafe.store.base import Store

__all__ = ["create_app"]

HEARTBEAT_S = 15.0


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


def create_app(runtime: Runtime) -> FastAPI:
    """An app serving ``runtime``'s cameras, zones, stored series and live feed."""
    app = FastAPI(title="crowdsafe", version=__version__, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime

    @app.get("/healthz", response_model=Health)
    def healthz(rt: RuntimeDep) -> Health:
        states = {cid: cam.health.state.value for cid, cam in rt.cameras.items()}
        ok = all(s in ("live", "stopped") for s in states.values())
        return Health(status="ok" if ok else "degraded", site=rt.config.site, cameras=states)

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
        known = {z.id for z in rt.zones()}
        if zone_id not in known:
            raise HTTPException(
                404, f"unknown zone '{zone_id}'; known zones: {', '.join(sorted(known))}"
            )
        if since is not None and until is not None and until <= since:
            raise HTTPException(422, f"until ({until}) must be later than since ({since})")
        samples = store.series(zone_id, since, until, limit)
        return SeriesPublic(
            zone_id=zone_id,
            since=since,
            until=until,
            samples=[ZoneSamplePublic.of(s) for s in samples],
        )

    @app.get("/api/live")
    async def live(request: Request, feed: FeedDep) -> StreamingResponse:
        queue = feed.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                for s in feed.latest().values():
                    yield f"event: sample\ndata: {json.dumps(s.to_dict())}\n\n"
                last = time.monotonic()
                while not await request.is_disconnected():
                    try:
                        s = await asyncio.wait_for(queue.get(), timeout=1.0)
                    except TimeoutError:
                        if time.monotonic() - last > HEARTBEAT_S:
                            last = time.monotonic()
                            yield ": keep-alive\n\n"
                        continue
                    yield f"event: sample\ndata: {json.dumps(s.to_dict())}\n\n"
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
