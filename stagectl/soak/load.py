"""The soak's load: an open-loop constant rate over a fixed mix of read and write requests.

Request i is due at start + i/rate whatever happened to the ones before it, and its latency counts
from when it was due, not from when a client was free: a slow-down shows as latency instead of
quietly lowering the rate (coordinated omission). Clients come from a pool of `RenewingClient`s
(stagectl/bench/load.py): each on its own loopback address, renewed before the rate limit's
per-address budget is spent, so 429s mean the limiter misjudged, and count as errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Callable

from stagectl.bench.load import TRANSPORT_ERRORS, RenewingClient

SKU_PREFIX = "stagectl-soak-"


@dataclasses.dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    expected: int
    body: Callable[[int], dict] | None = None
    params: dict | None = None


def mix(run_id: str, batch: str = "") -> list[Call]:
    """One cycle of the mix: 7 reads, 3 writes (the soak's own item, created first, is read and
    patched). New items are named by `run_id`, `batch` and the request number."""
    item = f"/api/inventory/{SKU_PREFIX}{run_id}"
    reads = [
        Call("health", "GET", "/health", 200),
        Call("inventory_list", "GET", "/api/inventory", 200, params={"limit": 20}),
        Call("inventory_item", "GET", item, 200),
        Call("analytics_summary", "GET", "/api/analytics/summary", 200),
        Call("inventory_list", "GET", "/api/inventory", 200, params={"limit": 5, "offset": 1}),
        Call("health", "GET", "/health", 200),
        Call("inventory_item", "GET", item, 200),
    ]
    writes = [
        Call("inventory_create", "POST", "/api/inventory", 201, body=lambda i: {
            "sku": f"{SKU_PREFIX}{run_id}{batch}-{i}", "name": "stagectl soak item", "category": "soak", "price": 1.0,
            "quantity": 1}),
        Call("inventory_patch", "PATCH", item, 200, body=lambda i: {"quantity_delta": 1, "reason": "soak"}),
        Call("session_create", "POST", "/api/sessions", 201, body=lambda i: {"user": "soak", "data": {"i": i}, "ttl_s": 60}),
    ]
    return [reads[0], writes[0], reads[1], reads[2], writes[1], reads[3], reads[4], writes[2], reads[5], reads[6]]


@dataclasses.dataclass
class Sample:
    due_s: float  # seconds after the start at which it was due
    latency_ms: float | None  # None: it failed
    name: str
    error: str | None = None


@dataclasses.dataclass
class LoadResult:
    samples: list[Sample]
    wall_s: float
    created: list[str]  # SKUs the successful inventory_create requests made


async def constant_rate(base_url: str, headers: dict[str, str], calls: list[Call], *, rate_rps: float,
                        duration_s: float, per_address: int, clients: int = 32) -> LoadResult:
    """Send `rate_rps` requests per second for `duration_s`, cycling through `calls`."""
    pool: asyncio.Queue[RenewingClient] = asyncio.Queue()
    all_clients = [RenewingClient(base_url, headers, per_address) for _ in range(clients)]
    for client in all_clients:
        pool.put_nowait(client)
    samples: list[Sample] = []
    created: list[str] = []
    total = int(rate_rps * duration_s)
    start = time.perf_counter()

    async def one(i: int, due: float) -> None:
        call = calls[i % len(calls)]
        client = await pool.get()
        try:
            status = await client.request(call.method, call.path, json=call.body(i) if call.body else None,
                                          params=call.params)
            error = None if status == call.expected else ("rate_limited_429" if status == 429 else f"http_{status}")
        except TRANSPORT_ERRORS as exc:
            error = type(exc).__name__
        finally:
            pool.put_nowait(client)
        latency = (time.perf_counter() - start - due) * 1000
        samples.append(Sample(due, None if error else latency, call.name, error))
        if error is None and call.name == "inventory_create" and call.body:
            created.append(call.body(i)["sku"])

    tasks = []
    try:
        for i in range(total):
            due = i / rate_rps
            delay = start + due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    finally:
        for client in all_clients:
            await client.aclose()
    return LoadResult(samples, time.perf_counter() - start, created)


def percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 3)


def windows(samples: list[Sample], window_s: float, duration_s: float) -> list[dict]:
    """Per window: start, requests, errors, p50 and p99 (of the successful ones)."""
    count = max(1, round(duration_s / window_s))
    out = []
    for w in range(count):
        lo, hi = w * window_s, (w + 1) * window_s if w < count - 1 else float("inf")
        inside = [s for s in samples if lo <= s.due_s < hi]
        ok = [s.latency_ms for s in inside if s.latency_ms is not None]
        out.append({"t_s": round(lo, 3), "n": len(inside), "errors": len(inside) - len(ok),
                    "p50_ms": percentile(ok, 50), "p99_ms": percentile(ok, 99)})
    return out


def stability(first_p99: float | None, last_p99: float | None, floor_ms: float) -> tuple[bool, str]:
    """Stable: the last window's p99 is at most twice the first's, where the first counts as at
    least `floor_ms` (below it, one descheduled process on a shared 2-core box doubles a p99)."""
    if first_p99 is None or last_p99 is None:
        return False, "no successful request in the first or the last window"
    limit = 2 * max(first_p99, floor_ms)
    ok = last_p99 <= limit
    return ok, f"last-window p99 {last_p99:.1f} ms {'≤' if ok else '>'} 2 × max(first {first_p99:.1f}, {floor_ms:g}) = {limit:.1f} ms"


def error_kinds(samples: list[Sample]) -> dict[str, int]:
    return dict(Counter(f"{s.name}: {s.error}" for s in samples if s.error))


def new_run_id() -> str:
    return secrets.token_hex(4)
