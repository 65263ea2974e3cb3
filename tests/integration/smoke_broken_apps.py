"""Test-only broken dashboards for the smoke suite's endpoint and CORS checks (issue 14's seeded
mistakes). Each is the real app with one plausible code mistake; run with
``uvicorn tests.integration.smoke_broken_apps:<factory> --factory``.
"""

from __future__ import annotations

from fastapi.middleware.cors import CORSMiddleware

from inventario_dashboard import app as dashboard_app
from inventario_dashboard.clients import s3
from inventario_dashboard.settings import load_settings

HARD_CODED_S3 = "http://127.0.0.1:4566"  # the stand-in's default address


def hardcoded_s3_app():
    """The S3 client pointed at the default address whatever S3_ENDPOINT_URL says."""
    original = s3.ObjectStore.__init__

    def init(self, settings, guard):
        original(self, settings.model_copy(update={"s3_endpoint_url": HARD_CODED_S3}), guard)

    s3.ObjectStore.__init__ = init  # type: ignore[method-assign]
    return dashboard_app.create_app()


def wildcard_cors_app():
    """CORS defaulted in code: an empty DASHBOARD_CORS_ORIGINS means "allow every origin"."""
    settings = load_settings()
    app = dashboard_app.create_app(settings)
    if not settings.dashboard_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    return app
