"""The outermost ASGI middleware: request id, security headers, body limit, request timeout,
metrics, the access log and the last-resort 500 — for *every* response, errors included.

Pure ASGI rather than ``BaseHTTPMiddleware`` so streaming (SSE) passes through untouched and an
exception escaping the app still gets a JSON 500 with the security headers.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import UNMATCHED_ROUTE, Metrics
from . import context

access_log = logging.getLogger("inventario_dashboard.access")
error_log = logging.getLogger("inventario_dashboard.errors")
_SAFE_REQUEST_ID = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI's body parser passes it through instead of answering 400."""

    def __init__(self) -> None:
        super().__init__(413)


class DashboardMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, security_headers: dict[str, str],
                 request_id_header: str, max_body_bytes: int, request_timeout_s: float):
        self.app = app
        self.metrics = metrics
        self.security = [(k.lower().encode(), v.encode()) for k, v in security_headers.items()]
        self.rid_header = request_id_header
        self.max_body = max_body_bytes
        self.timeout = request_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctx = context.RequestContext(
            request_id=_request_id(headers.get(self.rid_header.lower())),
            method=scope["method"], client_ip=(scope.get("client") or ("", 0))[0])
        token = context.bind(ctx)
        state = {"status": 500, "started": False}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                extra = [(k.lower().encode(), v.encode()) for k, v in ctx.extra_headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *self.security,
                                                  (self.rid_header.lower().encode(), ctx.request_id.encode()),
                                                  *extra]}
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_body:
                raise BodyTooLarge()
            await asyncio.wait_for(self.app(scope, receive_limited, send_wrapped), self.timeout)
        except BodyTooLarge:
            await self._error(send_wrapped, state, 413, "payload_too_large",
                              max_body_bytes=self.max_body)
        except asyncio.TimeoutError:
            await self._error(send_wrapped, state, 504, "request_timeout", timeout_s=self.timeout)
        except asyncio.CancelledError:
            if not state["started"]:
                state["status"] = 499   # the client went away first (nginx's convention)
            raise
        except Exception:   # last resort: the app let an exception escape
            error_log.exception("unhandled error")
            await self._error(send_wrapped, state, 500, "internal_error")
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            ctx.route = route
            self._record(ctx, state["status"], time.perf_counter() - started)
            context.unbind(token)

    async def _error(self, send: Send, state: dict, status: int, code: str, **fields) -> None:
        context.current().error_type = code
        if state["started"]:
            return   # headers already went out; the client sees a cut-off response
        body = json.dumps({"error": code, **fields}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _record(self, ctx: context.RequestContext, status: int, seconds: float) -> None:
        m = self.metrics
        m.requests.labels(ctx.method, ctx.route, str(status)).inc()
        m.duration.labels(ctx.method, ctx.route).observe(seconds)
        if status >= 400:
            m.errors.labels(ctx.route, ctx.error_type or f"http_{status}").inc()
        level = logging.ERROR if status >= 500 else logging.INFO
        access_log.log(level, "request", extra={
            "request_id": ctx.request_id, "method": ctx.method, "route": ctx.route,
            "status": status, "duration_ms": round(seconds * 1000, 2), "client_ip": ctx.client_ip})


def _request_id(given: str | None) -> str:
    """Echo a sane client id (bounded, header-safe), otherwise generate one."""
    if given and len(given) <= 128 and set(given) <= _SAFE_REQUEST_ID:
        return given
    return uuid.uuid4().hex


def security_headers(settings) -> dict[str, str]:
    """The fixed response headers of docs/contract.md §6."""
    headers = {
        "Content-Security-Policy": settings.dashboard_csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    if settings.dashboard_enable_hsts:
        headers["Strict-Transport-Security"] = (
            f"max-age={int(settings.dashboard_hsts_max_age)}; includeSubDomains")
    return headers
