"""GET /api/events (``real_time_updates``): Server-Sent Events from Redis pub/sub, bounded in
time and count so a client can never hold a connection (and a Redis subscription) forever."""
from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import feature

router = APIRouter()
log = logging.getLogger("inventario_dashboard.events")
HEARTBEAT_S = 5.0


@router.get("/api/events", dependencies=[Depends(feature("real_time_updates"))])
async def events(max_events: int = Query(100, ge=1, le=1000),
                 timeout: float = Query(15.0, gt=0, le=300),
                 services: Services = Depends(get_services)) -> StreamingResponse:
    """Stream inventory events; ends after ``max_events`` events or ``timeout`` seconds."""
    # Stay inside the request timeout so the stream ends cleanly instead of being cut off.
    duration = min(timeout, max(0.5, float(services.settings.dashboard_request_timeout) - 1))
    # Each stream holds one pooled Redis connection; capped so streams can never exhaust the pool
    # (an exhausted pool would look like a Redis outage and trip its breaker).
    max_streams = max(1, int(services.settings.redis_max_connections) // 4)
    if services.open_streams >= max_streams:
        raise ApiError(503, "too_many_streams", headers={"Retry-After": str(int(duration) + 1)},
                       max_streams=max_streams)
    services.open_streams += 1
    released = False

    async def release() -> None:
        """Idempotent: runs from the generator's finally and again as the response's background
        task, so a stream whose body never started still gives its slot and connection back."""
        nonlocal released
        if released:
            return
        released = True
        services.open_streams -= 1
        try:
            await asyncio.wait_for(pubsub.aclose(), 2)
        except Exception:   # closing a dead connection may fail; nothing left to release
            pass

    try:
        pubsub = await services.redis.subscribe()   # through the breaker: 503 when Redis is down
    except BaseException:
        services.open_streams -= 1
        raise

    async def stream():
        sent, deadline = 0, time.monotonic() + duration
        last_beat = time.monotonic()
        try:
            yield f"event: ready\ndata: {json.dumps({'max_events': max_events, 'timeout_s': duration})}\n\n"
            while sent < max_events:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    message = await pubsub.get_message(timeout=min(left, 1.0))
                except Exception as exc:   # Redis went away mid-stream: say so, then end
                    log.warning("event stream interrupted: %s", type(exc).__name__)
                    services.manager.report_failure("redis")
                    yield "event: error\ndata: {\"error\": \"redis_unavailable\"}\n\n"
                    return
                if message and message.get("type") == "message":
                    sent += 1
                    yield f"event: inventory\ndata: {message['data']}\n\n"
                elif time.monotonic() - last_beat >= HEARTBEAT_S:
                    last_beat = time.monotonic()
                    yield ": heartbeat\n\n"
            yield f"event: end\ndata: {json.dumps({'sent': sent})}\n\n"
        finally:
            await release()

    return StreamingResponse(stream(), media_type="text/event-stream", background=BackgroundTask(release),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
