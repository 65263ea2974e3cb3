"""Fresh loopback source addresses: the dashboard rate-limits /api per API key *and* peer address,
so chaos probes and bench clients each bind a random 127.a.b.c (all of 127.0.0.0/8 is local on
Linux) to get their own rate-limit window."""

from __future__ import annotations

import random


def fresh_loopback(rng: random.Random | None = None) -> str:
    """A random loopback address other than 127.0.0.1 (a fresh rate-limit identity)."""
    rng = rng or random.SystemRandom()
    return f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
