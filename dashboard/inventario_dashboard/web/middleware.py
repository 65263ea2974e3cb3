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
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import UNMATCHED_ROUTE, Metrics
from . import context

access_log = logging.getLogger("inventario_dashboard.access")
error_log = logging.getLogger("inventario_dashboard.errors")
_SAFE_REQUEST_ID = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# Paths that need an API key (the routes check it too; checking here comes before the body).
_PROTECTED_PREFIXES = ("/api/", "/admin/")
_PROTECTED_PATHS = frozenset({"/metrics", "/openapi.json", "/docs"})


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI's body parser passes it through instead of answering 400."""

    def __init__(self) -> None:
        super().__init__(413)


class DashboardMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, security_headers: dict[str, str],
                 request_id_header: str, max_body_bytes: int, request_timeout_s: float,
                 authorize: Callable[[str | None], bool | None] | None = None,
                 fast_answers: dict | None = None, route_templates: Callable[[], Iterable[str]] | None = None):
        self.app = app
        # the app's path templates, to label a refusal made here (before routing) by its route
        self._route_templates = route_templates
        self._compiled_routes: list[tuple[re.Pattern[str], str]] | None = None
        self.authorize = authorize   # presented key (or None) -> True valid / False wrong / None missing
        self.metrics = metrics
        self.security = [(k.lower().encode(), v.encode()) for k, v in security_headers.items()]
        self.rid_header = request_id_header
        self._children: dict[tuple, tuple] = {}
        self.rid_name = self.rid_header_lower = request_id_header.lower().encode()
        # path -> f(presented key or None) -> (status, JSON bytes) or None to let the app answer
        self.fast_answers: dict[str, Callable[[str | None], tuple[int, bytes] | None]] = fast_answers or {}
        self.max_body = max_body_bytes
        self.timeout = request_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Only the few headers this layer reads (a dict of all of them cost more than it saved).
        request_id = length = api_key = authorization = None
        rid_name = self.rid_name
        for name, value in scope["headers"]:
            if name == rid_name:
                request_id = value
            elif name == b"content-length":
                length = value
            elif name == b"x-api-key" and api_key is None:   # the first, as request.headers.get
                api_key = value
            elif name == b"authorization" and authorization is None:
                authorization = value
        method = scope["method"]
        ctx = context.RequestContext(
            request_id=_request_id(request_id),
            method=method if method in KNOWN_METHODS else OTHER_METHOD,
            client_ip=(scope.get("client") or ("", 0))[0])
        token = context.bind(ctx)
        state: dict[str, Any] = {"status": 500, "started": False, "route": None}
        security = [*self.security, (self.rid_header_lower, ctx.request_id.encode())]

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                extra = [(k.lower().encode(), v.encode()) for k, v in ctx.extra_headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *security, *extra]}
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
            path = scope["path"]
            given = _presented_key(api_key, authorization)
            refusal = self._auth_refusal(path, method, given)
            if refusal is not None:
                state["route"] = self._route_of(path)
                await self._error(send_wrapped, state, 401, refusal, {"www-authenticate": "Bearer"})
                return
            fast = self.fast_answers.get(path) if method == "GET" else None
            answer = fast(given) if fast is not None else None
            if answer is not None:
                # Health answers that need no key and no dependency call: served here, without
                # routing and dependency solving (most of their cost), same bytes as the routes.
                state["route"] = path
                await _send_json(send_wrapped, *answer)
                return
            if length is not None and length.isdigit() and int(length) > self.max_body:
                raise BodyTooLarge()
            # asyncio.timeout, not wait_for: wait_for wraps the app in a new task per request
            async with asyncio.timeout(self.timeout):
                await self.app(scope, receive_limited, send_wrapped)
        except BodyTooLarge:
            await self._error(send_wrapped, state, 413, "payload_too_large",
                              max_body_bytes=self.max_body)
        except TimeoutError:
            await self._error(send_wrapped, state, 504, "request_timeout", timeout_s=self.timeout)
        except asyncio.CancelledError:
            if not state["started"]:
                state["status"] = 499   # the client went away first (nginx's convention)
            raise
        except Exception:   # last resort: the app let an exception escape
            error_log.exception("unhandled error")
            await self._error(send_wrapped, state, 500, "internal_error")
        finally:
            ctx.route = state["route"] or getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self._record(ctx, state["status"], time.perf_counter() - started)
            context.unbind(token)

    def _auth_refusal(self, path: str, method: str, given: str | None) -> str | None:
        """The 401 code for a protected path without a valid key, else None. OPTIONS passes: a CORS
        preflight carries no key."""
        if self.authorize is None or method == "OPTIONS":
            return None
        if not (path.startswith(_PROTECTED_PREFIXES) or path in _PROTECTED_PATHS):
            return None
        valid = self.authorize(given)
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

    def _route_of(self, path: str) -> str | None:
        """The template of the route a path would reach, None when none does: a request refused
        before routing still counts under its route, so the metric labels stay one bounded set."""
        if self._compiled_routes is None:   # once, at the first refusal (the app is complete by then)
            templates = set(self._route_templates()) if self._route_templates else set()
            self._compiled_routes = [(compile_path(t)[0], t) for t in sorted(templates | _PROTECTED_PATHS)]
        return next((template for regex, template in self._compiled_routes if regex.match(path)), None)

    def _record(self, ctx: context.RequestContext, status: int, seconds: float) -> None:
        m = self.metrics
        # labelled children looked up once per (method, route, status): bounded, as the labels are
        key = (ctx.method, ctx.route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (m.requests.labels(ctx.method, ctx.route, str(status)),
                                              m.duration.labels(ctx.method, ctx.route))
        children[0].inc()
        children[1].observe(seconds)
        if status >= 400:
            m.errors.labels(ctx.route, ctx.error_type or f"http_{status}").inc()
        level = logging.ERROR if status >= 500 else logging.INFO
        access_log.log(level, "request", extra={
            "request_id": ctx.request_id, "method": ctx.method, "route": ctx.route,
            "status": status, "duration_ms": round(seconds * 1000, 2), "client_ip": ctx.client_ip})


def _request_id(given: bytes | None) -> str:
    """Echo a sane client id (bounded, header-safe), otherwise generate one."""
    if given and len(given) <= 128:
        text = given.decode("latin-1")
        if set(text) <= _SAFE_REQUEST_ID:
            return text
    # 128 random bits as 32 hex digits, the format of uuid4().hex without building a UUID object
    return os.urandom(16).hex()


def _presented_key(api_key: bytes | None, authorization: bytes | None) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer`` (as web.security.presented_key)."""
    if api_key:
        return api_key.decode("latin-1")
    if authorization:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer":
            return token.strip() or None
    return None


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


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
