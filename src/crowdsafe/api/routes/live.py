"""``/api/live``: zone samples, line samples and alert events as server-sent events.

One ``sample`` event per zone sample (the latest of each zone first, so a new page
shows numbers at once), ``line`` and ``alert`` events likewise, and a comment line
every :data:`HEARTBEAT_S` seconds so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from crowdsafe.api.deps import FeedDep
from crowdsafe.feed import END

__all__ = ["HEARTBEAT_S", "router"]

router = APIRouter()

HEARTBEAT_S = 15.0


@router.get(
    "/api/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live(request: Request, feed: FeedDep) -> StreamingResponse:
    """The live feed (server-sent events): ``sample``, ``line`` and ``alert`` events."""
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
                    message = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    if time.monotonic() - last > HEARTBEAT_S:
                        last = time.monotonic()
                        yield ": keep-alive\n\n"
                    continue
                if message is END:  # the server is stopping
                    break
                name, payload = message
                yield f"event: {name}\ndata: {json.dumps(payload)}\n\n"
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
