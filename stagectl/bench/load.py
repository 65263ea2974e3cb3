"""The bench engine: a bounded concurrent HTTP load loop, sequential timing of direct operations,
percentiles and verdicts, and the bare uvicorn "hello" app measured as the ceiling of this machine
(so results also read as a ratio to it). The stack's own targets are in stagectl.bench.stack.

Rate limiting: the dashboard limits /api/* per API key and peer address (`request.client.host`,
dashboard/inventario_dashboard/web/security.py). Every client binds its own random loopback source
address (127.a.b.c; all of 127/8 is local on Linux) and moves to a new one before it uses up the
per-address budget, so the bench measures latency, not the limiter. A 429 still counts as an error
(`rate_limited`), never as a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx

from stagectl.errors import PreflightError

try:  # the load client is an extra: `pip install 'stagectl[bench]'` (make install has it)
    import aiohttp
except ImportError as _missing:  # pragma: no cover - exercised by test_packaging with the module hidden
    raise PreflightError("the bench's load client (aiohttp) is not installed",
                         hint="pip install 'stagectl[bench]'  (or: pip install aiohttp)") from _missing
from stagectl.loopback import fresh_loopback, is_loopback_url, source_headers
from stagectl.process import stop_group

# The fewest successful operations a percentile may come from: below 20 the p95 is the slowest
# sample (docs/commands.md, bench). A target measured fewer times fails, whatever its latency.
MIN_LATENCY_SAMPLES = 20


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
    p99_limit_var: str | None = None  # a read's p99 target (PERF_READ_P99_MS), when it has one
    p99_limit_ms: float | None = None
    share_var: str | None = None  # the least throughput as a share of the ceiling's, when set
    min_ceiling_share: float | None = None
    ratio_p50_to_ceiling: float | None = None
    ratio_throughput_to_ceiling: float | None = None
    ceiling_rps: float | None = None  # the ceiling's throughput the share was taken against
    status: str = "fail"
    detail: str = ""
    first_p95_ms: float | None = None  # set when a miss was measured again (see `confirm_miss`)
    first_miss: str = ""  # what the first measurement missed, when it was measured again

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


# The targets a measurement carries besides its counts: confirm_miss hands them to a second measurement.
TARGET_FIELDS = ("limit_var", "limit_ms", "p99_limit_var", "p99_limit_ms", "share_var", "min_ceiling_share")


def judge(m: Measurement) -> Measurement:
    """pass only with every operation successful and each target it carries met: the p95 within
    its limit, the p99 within its limit, the throughput at least its share of the ceiling's
    (`ratio_throughput_to_ceiling`, set by `with_ceiling`; none measured is a miss)."""
    problems = []
    if m.ok == 0:
        problems.append("no successful operation")
    elif m.ok < MIN_LATENCY_SAMPLES:
        problems.append(f"percentiles from {m.ok} samples (at least {MIN_LATENCY_SAMPLES} needed)")
    if m.errors:
        kinds = ", ".join(f"{k}×{v}" for k, v in sorted(m.error_kinds.items()))
        problems.append(f"{m.errors} of {m.count} failed ({kinds})")
    if m.limit_ms is not None and (m.p95_ms is None or m.p95_ms > m.limit_ms):
        problems.append(f"p95 {m.p95_ms} ms > {m.limit_var}={m.limit_ms:g} ms")
    if m.p99_limit_ms is not None and (m.p99_ms is None or m.p99_ms > m.p99_limit_ms):
        problems.append(f"p99 {m.p99_ms} ms > {m.p99_limit_var}={m.p99_limit_ms:g} ms")
    if m.min_ceiling_share is not None:
        share = m.ratio_throughput_to_ceiling
        if share is None or share < m.min_ceiling_share:
            problems.append(f"throughput {m.throughput_rps} req/s is {share} of the ceiling's {m.ceiling_rps} req/s "
                            f"< {m.share_var}={m.min_ceiling_share:g}")
    m.status = "fail" if problems else "pass"
    if m.first_p95_ms is not None:
        problems.append(f"measured again after a first p95 of {m.first_p95_ms} ms"
                        + (f" ({m.first_miss})" if m.first_miss else ""))
    m.detail = "; ".join(problems)
    return m


def targets_text(m: Measurement) -> str:
    """The targets `m` is judged on, e.g. "p95≤500 p99≤25 ms", "p95≤100 ms, ≥0.5×ceiling" (throughput)."""
    parts = []
    if m.limit_ms is not None:
        parts.append(f"p95≤{m.limit_ms:g}")
    if m.p99_limit_ms is not None:
        parts.append(f"p99≤{m.p99_limit_ms:g}")
    text = " ".join(parts) + (" ms" if parts else "")
    if m.min_ceiling_share is not None:
        text += f"{', ' if text else ''}≥{m.min_ceiling_share:g}×ceiling"
    return text


def confirm_miss(m: Measurement, measure_again: Callable[[], Measurement]) -> Measurement:
    """Judge `m`; a target missed on latency or throughput alone (no errors) is measured once more
    and judged on that second measurement, which keeps the first p95 and misses on record. One descheduled process on a
    shared 2-core machine can push a p95 of 200 sub-millisecond operations past a 5 ms limit
    (seen here with two CPU hogs running: Redis p95 0.2 → 4 ms); a real regression misses twice.
    Errors are never measured again: one failed request is a failure."""
    judge(m)
    if m.status == "pass" or m.errors or m.ok == 0:
        return m
    again = measure_again()
    for name in TARGET_FIELDS:
        setattr(again, name, getattr(m, name))
    again.first_p95_ms, again.first_miss = m.p95_ms, m.detail
    return judge(again)


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    json_factory: Callable[[int], dict] | None = None  # request number → body
    params: dict | None = None


class RenewingClient:
    """One worker's HTTP client, moved to a fresh loopback source address every `per_address`
    requests: the dashboard rate-limits per API key + peer address, and the bench measures
    latency, not the limiter.

    aiohttp, not httpx: on this 2-core machine an httpx AsyncClient loop tops out at ~760 req/s
    against a bare uvicorn app (p50 12.5 ms at 10 clients, all of it client CPU), aiohttp at
    ~3300 req/s (p50 3.1 ms) — measured with the ceiling app. With httpx the bench mostly timed
    itself, and a slower machine turned client overhead into missed targets."""

    def __init__(self, base_url: str, headers: dict[str, str], per_address: int, timeout_s: float = 10.0):
        self.base_url, self.headers, self.per_address = base_url.rstrip("/"), headers, per_address
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._used = 0
        self.loopback = is_loopback_url(self.base_url)

    async def _next_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._used >= self.per_address:
            await self.aclose()
            # a fresh loopback source only where the target is on loopback (a remote one is not reachable from it)
            source = fresh_loopback() if self.loopback else None
            connector = aiohttp.TCPConnector(local_addr=(source, 0) if source else None, limit=1)
            # X-Forwarded-For only behind Docker's port proxy: a dashboard that trusts no proxy
            # counts every request naming one as a single client (its defence against forged
            # identities), which turned the whole local bench into 429s.
            headers = {**self.headers, **source_headers(source)}
            self._session = aiohttp.ClientSession(connector=connector, headers=headers, timeout=self.timeout)
            self._used = 0
        self._used += 1
        return self._session

    async def request(self, method: str, path: str, *, json: dict | None = None,
                      params: dict | None = None) -> int:
        """Send one request and read the whole body; the status code. Transport failures raise
        `aiohttp.ClientError` or `asyncio.TimeoutError` (see `TRANSPORT_ERRORS`)."""
        session = await self._next_session()
        async with session.request(method, self.base_url + path, json=json, params=params) as response:
            await response.read()
            return response.status

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


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
        client = RenewingClient(base_url, headers, per_address)
        try:
            for number in counter:
                if time.perf_counter() >= deadline:
                    return
                body = request.json_factory(number) if request.json_factory else None
                t0 = time.perf_counter()
                try:
                    status = await client.request(request.method, request.path, json=body, params=request.params)
                except TRANSPORT_ERRORS as exc:
                    _count_error(m, type(exc).__name__)
                    continue
                elapsed_ms = (time.perf_counter() - t0) * 1000
                m.count += 1
                if 200 <= status < 300:
                    latencies.append(elapsed_ms)
                elif status == 429:
                    m.rate_limited += 1
                    _count_error(m, "rate_limited_429", counted=True)
                else:
                    _count_error(m, f"http_{status}", counted=True)
        finally:
            await client.aclose()

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
            m.ceiling_rps = ceiling.throughput_rps
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
        stop_group(proc.pid, signal.SIGTERM, 5.0, reap=proc)
