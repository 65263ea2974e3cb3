"""Fresh loopback source addresses: the dashboard rate-limits /api per API key *and* peer address,
so chaos probes and bench clients each bind a random 127.a.b.c (all of 127.0.0.0/8 is local on
Linux) to get their own rate-limit window — only where the target itself is on loopback: a stack
elsewhere (`--url`) cannot be reached from a loopback source."""

from __future__ import annotations

import ipaddress
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
