"""``python -m inventario_dashboard``: serve the app with DASHBOARD_HOST, DASHBOARD_PORT and
DASHBOARD_WORKERS from the environment (same as ``uvicorn inventario_dashboard.app:create_app
--factory --host … --port … --workers …``)."""
from __future__ import annotations

import sys

import uvicorn

from .settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()   # fail before binding a port, with the variable's name only
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    uvicorn.run("inventario_dashboard.app:create_app", factory=True, host=settings.dashboard_host,
                port=settings.dashboard_port, workers=settings.dashboard_workers,
                timeout_graceful_shutdown=5, access_log=False,
                # named, not "auto": a missing C extension fails the start instead of silently
                # serving on the pure-Python loop and parser (both are dependencies)
                loop="uvloop", http="httptools",
                # The app decides whom X-Forwarded-For may name (DASHBOARD_TRUSTED_PROXIES);
                # uvicorn's own rewrite trusts 127.0.0.1 by default.
                proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
