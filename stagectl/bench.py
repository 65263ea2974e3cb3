"""The bench engine: a bounded concurrent HTTP load loop, sequential timing of direct operations,
percentiles and verdicts, and the bare uvicorn "hello" app measured as the ceiling of this machine
(so results also read as a ratio to it). The stack's own targets are in stagectl.bench_stack.

Rate limiting: the dashboard limits /api/* per API key and peer address (`request.client.host`,
dashboard/inventario_dashboard/http/security.py). Every client binds its own random loopback source
address (127.a.b.c; all of 127/8 is local on Linux) and moves to a new one before it uses up the
per-address budget, so the bench measures latency, not the limiter. A 429 still counts as an error
(`rate_limited`), never as a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import socket
import statistics
import subprocess
import ssl
import sys
import time
from collections.abc import Callable, Iterator

import httpx

from stagectl.chaos_probe import fresh_loopback
from stagectl.errors import PreflightError


@dataclasses.dataclass
class Measurement:
    """Latency statistics of one target; percentiles over successful operations only."""

    name: str
    kind: str  # http | direct | ceiling
    count: int = 0
    ok: int = 0
    errors: int = 0
    rate_limited: int = 0
    error_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    throughput_rps: float | None = None
    wall_s: float = 0.0
    limit_var: str | None = None
    limit_ms: float | None = None
    ratio_p50_to_ceiling: float | None = None
    ratio_throughput_to_ceiling: float | None = None
    status: str = "fail"
    detail: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def summarize(m: Measurement, latencies_ms: list[float], wall_s: float) -> Measurement:
    """Fill the percentiles (inclusive method, so a p99 of 200 samples is interpolated, not the max)."""
    m.ok, m.wall_s = len(latencies_ms), round(wall_s, 3)
    if len(latencies_ms) >= 2:
        q = statistics.quantiles(latencies_ms, n=100, method="inclusive")
        m.p50_ms, m.p95_ms, m.p99_ms = (round(q[i], 3) for i in (49, 94, 98))
    elif latencies_ms:
        m.p50_ms = m.p95_ms = m.p99_ms = round(latencies_ms[0], 3)
    m.throughput_rps = round(m.ok / wall_s, 1) if wall_s > 0 else None
    return m


def judge(m: Measurement) -> Measurement:
    """pass only with every operation successful and the p95 within its limit (when it has one)."""
    problems = []
    if m.ok == 0:
        problems.append("no successful operation")
    if m.errors:
        kinds = ", ".join(f"{k}×{v}" for k, v in sorted(m.error_kinds.items()))
        problems.append(f"{m.errors} of {m.count} failed ({kinds})")
    if m.limit_ms is not None and (m.p95_ms is None or m.p95_ms > m.limit_ms):
        problems.append(f"p95 {m.p95_ms} ms > {m.limit_var}={m.limit_ms:g} ms")
    m.status, m.detail = ("fail", "; ".join(problems)) if problems else ("pass", "")
    return m


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    json_factory: Callable[[int], dict] | None = None  # request number → body
    params: dict | None = None


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every client. httpx builds a new one per transport otherwise (~70 ms of
    CPU, measured here), which blocks the event loop each time a client renews its loopback
    address and shows up as a ~300 ms tail on every other in-flight request — the bench would
    measure itself. (The URLs are plain http; the context is only what httpx insists on holding.)"""
    return ssl.create_default_context()


class RenewingClient:
    """One worker's HTTP client, moved to a fresh loopback source address every `per_address`
    requests: the dashboard rate-limits per API key + peer address, and the bench measures
    latency, not the limiter."""

    def __init__(self, base_url: str, headers: dict[str, str], per_address: int):
        self.base_url, self.headers, self.per_address = base_url, headers, per_address
        self._client: httpx.AsyncClient | None = None
        self._used = 0

    async def next(self) -> httpx.AsyncClient:
        """The client for the next request (a new one once the current address is used up)."""
        if self._client is None or self._used >= self.per_address:
            await self.aclose()
            transport = httpx.AsyncHTTPTransport(local_address=fresh_loopback(), verify=shared_ssl_context())
            self._client = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, transport=transport,
                                             timeout=10)
            self._used = 0
        self._used += 1
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def load_http(name: str, kind: str, base_url: str, request: Request, *, headers: dict[str, str],
                    requests: int, concurrency: int, time_limit_s: float, per_address: int) -> Measurement:
    """`requests` requests (fewer if `time_limit_s` runs out) from `concurrency` clients, each on
    its own loopback address, renewed every `per_address` requests."""
    m = Measurement(name, kind)
    latencies: list[float] = []
    counter = iter(range(requests))
    started = time.perf_counter()
    deadline = started + time_limit_s

    async def worker() -> None:
        clients = RenewingClient(base_url, headers, per_address)
        try:
            for number in counter:
                if time.perf_counter() >= deadline:
                    return
                client = await clients.next()
                body = request.json_factory(number) if request.json_factory else None
                t0 = time.perf_counter()
                try:
                    response = await client.request(request.method, request.path, json=body, params=request.params)
                except httpx.HTTPError as exc:
                    _count_error(m, type(exc).__name__)
                    continue
                elapsed_ms = (time.perf_counter() - t0) * 1000
                m.count += 1
                if 200 <= response.status_code < 300:
                    latencies.append(elapsed_ms)
                elif response.status_code == 429:
                    m.rate_limited += 1
                    _count_error(m, "rate_limited_429", counted=True)
                else:
                    _count_error(m, f"http_{response.status_code}", counted=True)
        finally:
            await clients.aclose()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(m, latencies, time.perf_counter() - started)


def _count_error(m: Measurement, kind: str, counted: bool = False) -> None:
    if not counted:
        m.count += 1
    m.errors += 1
    m.error_kinds[kind] = m.error_kinds.get(kind, 0) + 1


def time_direct(name: str, op: Callable[[int], object], *, count: int, time_limit_s: float) -> Measurement:
    """Run `op(i)` sequentially up to `count` times (bounded by `time_limit_s`), timing each call."""
    m = Measurement(name, "direct")
    latencies: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        if time.perf_counter() - started >= time_limit_s:
            break
        t0 = time.perf_counter()
        try:
            op(i)
        except Exception as exc:  # a failed operation is a result to report, not a crash
            _count_error(m, type(exc).__name__)
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
        m.count += 1
    return summarize(m, latencies, time.perf_counter() - started)


def with_ceiling(results: list[Measurement], ceiling: Measurement) -> list[Measurement]:
    """Ratios of each HTTP target to the bare-uvicorn ceiling (p50 ×slower, throughput share)."""
    for m in results:
        if m.kind == "http" and m.p50_ms and ceiling.p50_ms:
            m.ratio_p50_to_ceiling = round(m.p50_ms / ceiling.p50_ms, 2)
        if m.kind == "http" and m.throughput_rps and ceiling.throughput_rps:
            m.ratio_throughput_to_ceiling = round(m.throughput_rps / ceiling.throughput_rps, 3)
    return results


CEILING_APP = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


@contextlib.contextmanager
def ceiling_server(timeout: float = 15.0) -> Iterator[str]:
    """A bare uvicorn app on a free loopback port (own session; killed on exit)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", CEILING_APP, str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise PreflightError(f"the ceiling app exited with {proc.returncode} before answering")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise PreflightError(f"the ceiling app did not answer within {timeout:g}s")
            time.sleep(0.05)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
