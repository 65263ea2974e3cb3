"""Per-request context shared between the ASGI middleware, dependencies and error handlers.

The middleware puts one mutable ``RequestContext`` into a ContextVar before calling the app; code
deeper in the request (auth, rate limiter, feature gate, exception handlers) fills it in, and the
middleware reads it back to add headers, label metrics and write the access log. A mutable object
is used because ContextVar *values* set in child tasks are not visible to the parent, but a shared
object's attributes are.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    request_id: str = "-"
    method: str = ""
    client_ip: str = ""
    route: str = "<unmatched>"
    feature: str | None = None          # the feature gate this request passed through
    error_type: str | None = None       # stable error code of an error response (metrics label)
    extra_headers: dict[str, str] = field(default_factory=dict)   # e.g. X-RateLimit-*


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "dashboard_request", default=None)


def current() -> RequestContext:
    """The context of the request being served (a throwaway one outside requests)."""
    ctx = _current.get()
    return ctx if ctx is not None else RequestContext()


def bind(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def unbind(token: contextvars.Token) -> None:
    _current.reset(token)
