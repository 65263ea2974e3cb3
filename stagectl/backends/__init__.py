"""Backend registry: `select_backend("local" | "compose" | "auto", ctx)`.

Backends are imported lazily, so choosing one never imports (or requires) the other.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Literal

from stagectl.backends.base import Backend, BackendContext
from stagectl.errors import ConfigError, PreflightError

BackendName = Literal["local", "compose", "auto"]


def _lazy(module: str, attr: str) -> Callable[[BackendContext], Backend]:
    def factory(ctx: BackendContext) -> Backend:
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise PreflightError(f"backend {module}.{attr} is not available: {exc}") from None
        return cls(ctx)

    factory.__qualname__ = f"{module}.{attr}"
    return factory


BACKENDS: dict[str, Callable[[BackendContext], Backend]] = {
    "local": _lazy("stagectl.backends.local.backend", "LocalBackend"),
    "compose": _lazy("stagectl.backends.compose", "ComposeBackend"),
}


def resolve_backend_name(name: str, *, docker: tuple[str, ...] = ("docker",)) -> tuple[str, str]:
    """(backend name, why): 'auto' becomes compose when an engine with Compose v2 answers, else local.

    `docker` is the client argv python-on-whales calls (tests pass a fake)."""
    if name != "auto":
        if name not in BACKENDS:
            raise ConfigError(f"unknown backend {name!r}", hint=f"choose one of: auto, {', '.join(BACKENDS)}")
        return name, "chosen explicitly"
    from stagectl.backends.compose import engine_answers

    reason = engine_answers(docker)
    return ("compose", "a Docker engine with Compose v2 answers") if reason is None else ("local", reason)


def select_backend(name: str, ctx: BackendContext) -> Backend:
    """The backend called `name` ('auto' resolves as in `resolve_backend_name`) for this context."""
    resolved, _why = resolve_backend_name(name)
    return BACKENDS[resolved](ctx)


__all__ = ["BACKENDS", "Backend", "BackendContext", "BackendName", "resolve_backend_name", "select_backend"]
