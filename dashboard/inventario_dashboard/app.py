"""The Dashboard API: ``create_app(settings) -> FastAPI``.

Run: ``uvicorn inventario_dashboard.app:create_app --factory --host 127.0.0.1 --port 8080``.
The lifespan opens the clients, creates the schema, evaluates health once (so /health is
meaningful at once), runs the DegradationManager in the background, then starts loading the
``openai`` client off the start-up path, and closes everything on shutdown.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from . import __version__
from .clients import input_errors
from .clients.guard import ClientInputError, Guard, ServiceCallFailed
from .clients.llm import Llm
from .clients.postgres import Database, DomainError
from .clients.redis_store import RedisStore
from .clients.s3 import ObjectStore
from .logging_setup import configure_logging
from .metrics import Metrics
from .resilience.breaker import breakers_from_settings
from .resilience.features import FEATURES
from .resilience.levels import SERVICES
from .resilience.manager import DegradationManager
from .routes import admin, ai, analytics, events, files, health, inventory, inventory_write, sessions
from .services import Services
from .settings import Settings, load_settings
from .snapshot import snapshot_loop
from .web import errors
from .web.middleware import DashboardMiddleware, security_headers
from .web.security import LocalLimiter, key_is_valid, rate_limit, retry_after_s, service_failure_response_fields

log = logging.getLogger("inventario_dashboard.app")


def _secret_values(s: Settings) -> list[str]:
    return [getattr(s, name).get_secret_value() for name in
            ("postgres_password", "redis_password", "aws_access_key_id", "aws_secret_access_key",
             "openai_api_key", "dashboard_api_key")]


def build_services(s: Settings) -> Services:
    """Metrics, breakers (metric callbacks), clients behind guards, and the manager with probes."""
    metrics = Metrics()
    breakers = breakers_from_settings(s, on_transition=metrics.on_breaker_transition,
                                      on_failure=metrics.on_breaker_failure)
    holder: dict = {}

    def report_failure(service: str) -> None:
        manager = holder.get("manager")
        if manager is not None:
            manager.report_failure(service)

    is_input_error = {"database": input_errors.database, "redis": input_errors.redis_store,
                      "s3": input_errors.s3, "openai": input_errors.llm}

    def guard(name: str) -> Guard:
        return Guard(name, breakers[name], report_failure, retry_attempts=s.http_retry_attempts,
                     is_input_error=is_input_error[name])

    db, redis = Database(s, guard("database")), RedisStore(s, guard("redis"))
    s3, llm = ObjectStore(s, guard("s3")), Llm(s, guard("openai"))
    # Raw probes: the manager runs each through its breaker with HEALTH_CHECK_TIMEOUT.
    manager = DegradationManager(s, breakers, {"database": db.probe, "redis": redis.probe,
                                               "s3": s3.probe, "openai": llm.probe})
    holder["manager"] = manager
    metrics.init_labels(SERVICES, FEATURES)
    manager.add_listener(lambda m: metrics.observe_manager(m, breakers))
    return Services(settings=s, metrics=metrics, breakers=breakers, manager=manager, db=db,
                    redis=redis, s3=s3, llm=llm, local_limiter=LocalLimiter(),
                    trusted_proxies=frozenset(s.dashboard_trusted_proxies),
                    configured_health_interval=float(s.health_check_interval))


_prebuilt: list[FastAPI] = []


def prewarm() -> None:
    """Build the app before it is due: stagectl starts the dashboard early (its prewarm, see
    stagectl/process.py) and lets it run once its dependencies are healthy; the next
    ``create_app()`` then returns this app. Building reads the settings and creates the clients
    (the S3 client alone is ~0.15 s of botocore model loading) but connects to nothing: that
    happens in the lifespan, after the go."""
    _prebuilt.append(create_app())


def freeze_long_lived_objects() -> None:
    """Collect, then move every object still alive out of the collector's sight (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app (reads the environment when ``settings`` is None)."""
    if settings is None and _prebuilt:
        return _prebuilt.pop()
    s = settings or load_settings()
    configure_logging(s.log_level, s.log_format, _secret_values(s), os.environ.get("LOG_FILE") or None)
    services = build_services(s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        services.started_at = time.time()
        await services.db.open()
        try:
            await services.db.ensure_schema()
        except ServiceCallFailed:
            log.warning("database unavailable at start; schema is created on first use")
        await services.manager.evaluate_once()
        log.info("dashboard started: level %s, score %s", services.manager.level.name, services.manager.score)
        tasks = [asyncio.create_task(_keep_running("degradation manager", services.manager.run),
                                     name="degradation-manager"),
                 asyncio.create_task(_keep_running("inventory snapshot", lambda: snapshot_loop(services)),
                                     name="inventory-snapshot")]
        services.background.extend(tasks)
        # Start-up objects (modules, the app, routes, pydantic models: ~150k) live as long as the
        # process: moved out of the collector's sight, a collection of the old generations no
        # longer walks them (measured in-process: one such pass 7.5 ms before, 0.3 ms after).
        freeze_long_lived_objects()
        # Start-up is done: only now import openai and build its client, in a worker thread,
        # so that second of CPU is neither on the start-up path nor counted by a breaker. Its
        # modules and models live as long as the process too: frozen once loaded (left in sight,
        # every old-generation pass walked them: 15-25 ms about once a second under load, every
        # request in flight waited, the reads' p99 doubled).
        services.llm.start_loading(then=freeze_long_lived_objects)
        try:
            yield
        finally:
            await _stop_tasks(tasks)
            await _close_all(services)
            log.info("dashboard stopped")

    # telemetry off: FastAPI's native OpenTelemetry asked the global providers whether it was
    # configured on every request (~5% of a /health answer); this app's metrics are its own
    # Prometheus registry (older FastAPI keeps the unknown keyword in `app.extra`).
    app = FastAPI(title="inventario-retail Dashboard API", version=s.app_version or __version__,
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None, debug=s.debug,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    # No trailing-slash redirects: Starlette builds them as absolute URLs from the Host header,
    # so "GET /metrics/" with "Host: evil.example" answered a 307 to evil.example.
    app.router.redirect_slashes = False
    app.state.services = services
    errors.install_handlers(app)

    @app.exception_handler(ClientInputError)
    async def _input_refused(_: Request, exc: ClientInputError):
        # The request's data, not the dependency: a 4xx, and no breaker counted it.
        return errors.error_response(422, "invalid_input", service=exc.service,
                                     detail="the request's data was refused by the " + exc.service)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError):
        # A constraint or range error a route did not map itself: still the request's data.
        return errors.error_response(422, "invalid_input", service="database", detail=exc.detail)

    @app.exception_handler(ServiceCallFailed)
    async def _dependency_failed(_: Request, exc: ServiceCallFailed):
        retry = max(exc.retry_after_s or 0, retry_after_s(services))
        return errors.error_response(503, "feature_unavailable",
                                     {"Retry-After": str(max(1, int(retry + 0.999)))},
                                     **service_failure_response_fields(services, exc))

    app.include_router(health.router)
    app.include_router(admin.router)
    api = [inventory.router, inventory_write.router, sessions.router, files.router, ai.router,
           analytics.router, events.router]
    for router in api:
        app.include_router(router, dependencies=[Depends(rate_limit)])
    if s.dashboard_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=s.dashboard_cors_origins,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type", s.request_id_header])
    app.add_middleware(DashboardMiddleware, metrics=services.metrics, security_headers=security_headers(s),
                       request_id_header=s.request_id_header, max_body_bytes=s.dashboard_max_body_bytes,
                       request_timeout_s=s.dashboard_request_timeout,
                       authorize=lambda given: key_is_valid(services, given) if given else None,
                       fast_answers=health.fast_answers(services),
                       route_templates=lambda: app.openapi()["paths"])
    if not s.dashboard_ratelimit_enabled:   # only outside staging/production (settings refuse it there)
        log.warning("DASHBOARD_RATELIMIT_ENABLED=false: /api/* is not rate limited")
    if not s.dashboard_api_key.get_secret_value():
        log.warning("DASHBOARD_API_KEY is empty: every authenticated endpoint answers 401")
    return app


async def _keep_running(name: str, loop_factory, pause_s: float = 1.0) -> None:
    """Run a background loop; if it ever crashes, log it and start it again (a dead health loop
    would freeze /health at its last answer)."""
    while True:
        try:
            await loop_factory()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s crashed; restarting in %.0fs", name, pause_s)
            await asyncio.sleep(pause_s)


async def _stop_tasks(tasks: list[asyncio.Task], rounds: int = 20) -> None:
    """Cancel until really done: on Python 3.11 ``asyncio.wait_for`` can swallow a cancellation
    that races with its inner result (gh-86296), so one cancel() may not end a loop using it."""
    pending = set(tasks)
    for _ in range(rounds):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
        if not pending:
            return
    log.error("background tasks did not stop: %s", [t.get_name() for t in pending])


async def _close_all(services: Services) -> None:
    for name, closer in (("database", services.db.close), ("redis", services.redis.close),
                         ("openai", services.llm.close), ("s3", services.s3.close)):
        try:
            await asyncio.wait_for(closer(), 5)
        except Exception as exc:   # shutting down: note it and keep closing the rest
            log.warning("closing %s failed: %s", name, type(exc).__name__)
