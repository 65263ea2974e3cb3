"""Fresh loopback source addresses: the dashboard rate-limits /api per API key *and* peer address,
so chaos probes and bench clients each bind a random 127.a.b.c (all of 127.0.0.0/8 is local on
Linux) to get their own rate-limit window — only where the target itself is on loopback: a stack
elsewhere (`--url`) cannot be reached from a loopback source.

Behind Docker's port proxy (the compose backend) the dashboard sees every host client arrive from
one gateway address; there each client also names its source in X-Forwarded-For, which that
dashboard believes from exactly that gateway (docs/backends.md, "Client address"). Never under
the local backend: a dashboard that trusts no proxy counts every request naming one as a single
client."""

from __future__ import annotations

import ipaddress
import os
import random
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host is a loopback address (or `localhost`)."""
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def fresh_loopback(rng: random.Random | None = None) -> str:
    """A random loopback address other than 127.0.0.1 (a fresh rate-limit identity)."""
    rng = rng or random.SystemRandom()
    return f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


FORWARDED_FOR_ENV = "STAGECTL_FORWARDED_FOR"  # "1": the stack sits behind Docker's port proxy


def name_source_in_header(on: bool) -> None:
    """Whether this process (and the suites it starts) names its source address in X-Forwarded-For;
    set where the backend is chosen (stagectl.stack.backend_for)."""
    if on:
        os.environ[FORWARDED_FOR_ENV] = "1"
    else:
        os.environ.pop(FORWARDED_FOR_ENV, None)


def behind_port_proxy() -> bool:
    """Whether the stack this process talks to sits behind Docker's port proxy (compose)."""
    return os.environ.get(FORWARDED_FOR_ENV) == "1"


def source_headers(source: str | None) -> dict[str, str]:
    """{"X-Forwarded-For": source} behind Docker's port proxy, else {} (see the module's docstring)."""
    return {"X-Forwarded-For": source} if source and behind_port_proxy() else {}
