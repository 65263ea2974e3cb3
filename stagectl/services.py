"""Per-service control on a running stack — `restart|stop|start|up SERVICE…` — on any backend:
which services a command touches (dependencies included), and in which order.

Starting goes in dependency order (a service's dependencies first, each waited for like `up`);
stopping goes in reverse order. Only the services named are stopped: like `docker compose stop`,
their dependents keep running (and degrade, which is what the dashboard is for).
"""

from __future__ import annotations

from collections.abc import Sequence

from stagectl.backends.base import Backend, ServiceStatus
from stagectl.config.model import Stack
from stagectl.errors import ConfigError


def check_names(stack: Stack, names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in stack.services]
    if unknown:
        raise ConfigError(f"unknown service {unknown[0]!r}; known: {', '.join(stack.services)}")


def dependency_closure(stack: Stack, names: Sequence[str]) -> list[str]:
    """`names` and everything they depend on (transitively), in start order."""
    check_names(stack, names)
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(stack.services[name].depends_on)
    return [n for wave in stack.start_order() for n in wave if n in wanted]


def in_start_order(stack: Stack, names: Sequence[str]) -> list[str]:
    check_names(stack, names)
    return [n for wave in stack.start_order() for n in wave if n in set(names)]


def stop(backend: Backend, names: Sequence[str]) -> list[ServiceStatus]:
    """Stop the named services, dependents before their dependencies."""
    return [backend.stop_service(n) for n in reversed(in_start_order(backend.ctx.stack, names))]


def start(backend: Backend, names: Sequence[str], *, wait_timeout: float) -> list[ServiceStatus]:
    """Start the named services (dependencies first) and wait for each to be healthy."""
    return [backend.start(n, wait_timeout=wait_timeout) for n in in_start_order(backend.ctx.stack, names)]


def restart(backend: Backend, names: Sequence[str], *, wait_timeout: float) -> list[ServiceStatus]:
    """Stop the named services, then start them again in dependency order."""
    stop(backend, names)
    return start(backend, names, wait_timeout=wait_timeout)


def up(backend: Backend, names: Sequence[str], *, wait_timeout: float) -> list[ServiceStatus]:
    """`up SERVICE…`: the named services and their dependencies, healthy."""
    check_names(backend.ctx.stack, names)
    return backend.up_services(list(names), wait_timeout=wait_timeout)
