"""Test-only broken dashboard: the real app, with /metrics open to anyone.

The dashboard has no setting that turns off auth on /metrics, so this wrapper presents the valid
key on the client's behalf (and drops whatever key the client sent) — the smoke suite's
metrics-auth test must notice. Run: ``uvicorn tests.integration.smoke_open_metrics_app:create_app --factory``.
"""

from __future__ import annotations

import os

from inventario_dashboard.app import create_app as create_dashboard

_KEY_HEADERS = (b"x-api-key", b"authorization")


def create_app():
    inner = create_dashboard()
    key = os.environ["DASHBOARD_API_KEY"].encode()

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/metrics":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _KEY_HEADERS]
            scope = {**scope, "headers": [*headers, (b"x-api-key", key)]}
        await inner(scope, receive, send)  # lifespan and every other path pass through untouched

    return app
