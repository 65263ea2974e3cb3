"""Test-only broken dashboards for the fuzz and soak phases: the real app, with one planted fault
chosen by STAGECTL_TEST_FAULT.

- ``fuzz``: ``GET /api/inventory`` answers a bare 500 when ``limit`` is not a decimal number (what
  a missing input check would do), and 404 answers lose ``X-Frame-Options``.
- ``soak``: 8 s after the first ``/api/analytics/summary`` every later one takes 300 ms longer
  (latency that creeps in: the p99 of the last window is far above the first's).

Run: ``uvicorn tests.integration.faulty_dashboard_app:create_app --factory``.
"""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import parse_qs

from inventario_dashboard.app import create_app as create_dashboard


def create_app():
    inner = create_dashboard()
    fault = os.environ["STAGECTL_TEST_FAULT"]
    first_summary: list[float] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        path = scope["path"]
        if fault == "fuzz" and path == "/api/inventory" and scope["method"] == "GET":
            limits = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("limit", [])
            if any(not v.isdigit() for v in limits):
                await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"boom"})
                return
        if fault == "soak" and path == "/api/analytics/summary":
            first_summary[:] = first_summary or [time.monotonic()]
            if time.monotonic() - first_summary[0] > 8:
                await asyncio.sleep(0.3)

        async def send_filtered(message):
            if fault == "fuzz" and message["type"] == "http.response.start" and message["status"] == 404:
                message = {**message, "headers": [(k, v) for k, v in message["headers"] if k.lower() != b"x-frame-options"]}
            await send(message)

        await inner(scope, receive, send_filtered)

    return app
