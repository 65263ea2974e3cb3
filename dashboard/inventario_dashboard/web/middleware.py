"""The outermost ASGI middleware: request id, security headers, body limit, request timeout,
metrics, the access log and the last-resort 500 — for *every* response, errors included.

Two refusals happen here, before the app reads anything: a method outside HTTP's standard set
is a 405 labelled ``OTHER`` (a client-chosen method name would be a new metric series each), and a
request to a key-protected path without a valid key is a 401 before its body is read or parsed.

Pure ASGI rather than ``BaseHTTPMiddleware`` so streaming (SSE) passes through untouched and an
exception escaping the app still gets a JSON 500 with the security headers.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Callable

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import UNMATCHED_ROUTE, Metrics
from . import context

access_log = logging.getLogger("inventario_dashboard.access")
error_log = logging.getLogger("inventario_dashboard.errors")
_SAFE_REQUEST_ID = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# Paths that need an API key (the routes check it too; checking here comes before the body).
_PROTECTED_PREFIXES = ("/api/",)
_PROTECTED_PATHS = frozenset({"/metrics", "/openapi.json", "/docs"})


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI's body parser passes it through instead of answering 400."""

    def __init__(self) -> None:
        super().__init__(413)


class DashboardMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, security_headers: dict[str, str],
                 request_id_header: str, max_body_bytes: int, request_timeout_s: float,
                 authorize: Callable[[str | None], bool | None] | None = None):
        self.app = app
        self.authorize = authorize   # presented key (or None) -> True valid / False wrong / None missing
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
        method = scope["method"]
        ctx = context.RequestContext(
            request_id=_request_id(headers.get(self.rid_header.lower())),
            method=method if method in KNOWN_METHODS else OTHER_METHOD,
            client_ip=(scope.get("client") or ("", 0))[0])
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
            if ctx.method == OTHER_METHOD:
                await self._error(send_wrapped, state, 405, "method_not_allowed")
                return
            refusal = self._auth_refusal(scope["path"], method, headers)
            if refusal is not None:
                await self._error(send_wrapped, state, 401, refusal, {"www-authenticate": "Bearer"})
                return
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

    def _auth_refusal(self, path: str, method: str, headers: dict[str, str]) -> str | None:
        """The 401 code for a protected path without a valid key, else None. OPTIONS passes: a CORS
        preflight carries no key."""
        if self.authorize is None or method == "OPTIONS":
            return None
        if not (path.startswith(_PROTECTED_PREFIXES) or path in _PROTECTED_PATHS):
            return None
        given = headers.get("x-api-key")
        if not given:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        valid = self.authorize(given or None)
        if valid is None:
            return "missing_api_key"
        return None if valid else "invalid_api_key"

    async def _error(self, send: Send, state: dict, status: int, code: str,
                     extra_headers: dict[str, str] | None = None, **fields) -> None:
        context.current().error_type = code
        if state["started"]:
            return   # headers already went out; the client sees a cut-off response
        body = json.dumps({"error": code, **fields}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in (extra_headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
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
    """The fixed response headers of CONTRACT.md §6."""
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
