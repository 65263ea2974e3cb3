"""`stagectl bench`: bounded load against the running stack, judged against CONTRACT.md §8.

HTTP endpoints are loaded by N concurrent httpx clients; PostgreSQL, Redis and S3 are timed
directly; a bare uvicorn "hello" app, started here on a free port, is measured the same way as the
ceiling of this machine, so results also read as a ratio to it.

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
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx

from stagectl.chaos_probe import fresh_loopback
from stagectl.errors import ConfigError, PreflightError


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
        client, used = None, 0
        try:
            for number in counter:
                if time.perf_counter() >= deadline:
                    return
                if client is None or used >= per_address:
                    if client is not None:
                        await client.aclose()
                    transport = httpx.AsyncHTTPTransport(local_address=fresh_loopback())
                    client = httpx.AsyncClient(base_url=base_url, headers=headers, transport=transport, timeout=10)
                    used = 0
                used += 1
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
            if client is not None:
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
    return results


# --- the stack's targets -------------------------------------------------------------------------

HTTP_TARGETS: dict[str, tuple[Request, str]] = {  # name → (request, §8 limit variable)
    "health": (Request("GET", "/health"), "PERF_HEALTH_P95_MS"),
    "inventory_list": (Request("GET", "/api/inventory", params={"limit": 20}), "PERF_API_P95_MS"),
    "inventory_write": (Request("POST", "/api/inventory"), "PERF_API_P95_MS"),
    "analytics_summary": (Request("GET", "/api/analytics/summary"), "PERF_API_P95_MS"),
}
DIRECT_LIMITS = {"db_query": "PERF_DB_QUERY_MS", "redis_op": "PERF_REDIS_OP_MS", "s3_op": "PERF_S3_OP_MS"}
BENCH_SKU_PREFIX = "stagectl-bench-"


def write_request(run_id: str) -> Request:
    """POST /api/inventory with a new SKU per request (removed again after the run)."""
    return Request("POST", "/api/inventory", json_factory=lambda i: {
        "sku": f"{BENCH_SKU_PREFIX}{run_id}-{i}", "name": "stagectl bench item", "category": "bench",
        "price": 1.0, "quantity": 0})


def direct_ops(env, ports: dict[str, int], run_id: str) -> tuple[dict[str, Callable[[int], object]], Callable[[], None]]:
    """One timed operation per backing service, and a closer for the connections they hold."""
    import boto3
    import psycopg
    import redis
    from botocore.config import Config

    db = psycopg.connect(host="127.0.0.1", port=ports["postgres"], dbname=env["POSTGRES_DB"],
                         user=env["POSTGRES_USER"], password=env.get("POSTGRES_PASSWORD", ""),
                         connect_timeout=5, autocommit=True)
    cache = redis.Redis(host="127.0.0.1", port=ports["redis"], password=env.get("REDIS_PASSWORD") or None,
                        socket_timeout=5)
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{ports['s3']}",
                      region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
                      aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", ""),
                      aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
                      config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10))
    bucket, key = env["S3_BUCKET_NAME"], f"staging-test/stagectl-bench-{run_id}.txt"

    def s3_op(i: int) -> None:  # a put and the get of what was put: one "S3 operation" round trip
        s3.put_object(Bucket=bucket, Key=key, Body=f"bench {i}".encode())
        if s3.get_object(Bucket=bucket, Key=key)["Body"].read() != f"bench {i}".encode():
            raise ValueError("S3 returned other bytes than were written")

    def close() -> None:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        finally:
            db.close()
            cache.close()

    ops = {
        "db_query": lambda i: db.execute("SELECT count(*) FROM products").fetchone(),
        "redis_op": lambda i: cache.ping() if i % 2 == 0 else cache.get("stagectl:bench:probe"),
        "s3_op": s3_op,
    }
    return ops, close


CEILING_APP = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
MIN_CONCURRENCY = 10  # CONTRACT.md §8: "10+ concurrent requests"


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


@dataclasses.dataclass
class BenchRun:
    targets: list[Measurement]
    settings: dict
    cleanup: str = ""

    @property
    def concurrency_ok(self) -> bool:
        return self.settings["concurrency"] >= MIN_CONCURRENCY

    @property
    def ok(self) -> bool:
        return self.concurrency_ok and all(t.status == "pass" for t in self.targets)

    def to_dict(self) -> dict:
        return {"targets": [t.to_dict() for t in self.targets], "settings": self.settings,
                "summary": {"passed": sum(t.status == "pass" for t in self.targets),
                            "failed": sum(t.status != "pass" for t in self.targets), "total": len(self.targets),
                            "concurrency_ok": self.concurrency_ok, "ok": self.ok, "cleanup": self.cleanup}}

    def check_results(self) -> list:
        """The targets as shared CheckResults (section "bench") for reports."""
        from stagectl.results import CheckResult

        out = [CheckResult(f"bench.{t.name}", "bench", "pass" if t.status == "pass" else "fail",  # type: ignore[arg-type]
                           f"p50 {t.p50_ms} / p95 {t.p95_ms} / p99 {t.p99_ms} ms, {t.throughput_rps} req/s, "
                           f"{t.errors} errors" + (f"; {t.detail}" if t.detail else ""),
                           evidence=str(t.to_dict())) for t in self.targets]
        c = self.settings["concurrency"]
        out.append(CheckResult("bench.concurrency", "bench", "pass" if self.concurrency_ok else "fail",
                               f"{c} concurrent clients (CONTRACT.md §8 asks for {MIN_CONCURRENCY}+)"))
        return out


def _limit(env, var: str) -> float:
    try:
        return float(env[var])
    except (KeyError, ValueError):
        raise ConfigError(f"{var} must be set to a number of milliseconds (CONTRACT.md §8)") from None


def run_bench(env, ports: dict[str, int], api_key: str, *, requests: int, concurrency: int,
              time_limit_s: float, direct_count: int) -> BenchRun:
    """Measure the ceiling, the dashboard's endpoints and the three services; judge against §8."""
    run_id = secrets.token_hex(4)
    per_address = max(1, int(env.get("DASHBOARD_RATELIMIT_REQUESTS") or 100) - 5)
    base = f"http://127.0.0.1:{ports['dashboard']}"
    headers = {"X-API-Key": api_key}
    common = dict(requests=requests, concurrency=concurrency, time_limit_s=time_limit_s, per_address=per_address)
    with ceiling_server() as url:
        ceiling = asyncio.run(load_http("ceiling_hello", "ceiling", url, Request("GET", "/"), headers={}, **common))
    results = [judge(ceiling)]
    for name, (request, var) in HTTP_TARGETS.items():
        if name == "inventory_write":
            request = write_request(run_id)
        m = asyncio.run(load_http(name, "http", base, request, headers=headers, **common))
        m.limit_var, m.limit_ms = var, _limit(env, var)
        results.append(m)
    cleanup = _remove_bench_items(base, headers, run_id, requests, concurrency, per_address)
    ops, close = direct_ops(env, ports, run_id)
    try:
        for name, op in ops.items():
            m = time_direct(name, op, count=direct_count, time_limit_s=time_limit_s)
            m.limit_var, m.limit_ms = DIRECT_LIMITS[name], _limit(env, DIRECT_LIMITS[name])
            results.append(m)
    finally:
        close()
    with_ceiling(results, ceiling)
    for m in results[1:]:
        judge(m)
    settings = {"requests": requests, "concurrency": concurrency, "time_limit_s": time_limit_s,
                "direct_count": direct_count, "per_address_requests": per_address,
                "client_addresses": "one random 127.a.b.c per client, renewed every per_address_requests"}
    return BenchRun(results, settings, cleanup)


def _remove_bench_items(base: str, headers: dict, run_id: str, requests: int, concurrency: int,
                        per_address: int) -> str:
    """DELETE what the write target created, through the API (so cache and snapshot follow)."""
    numbers = iter(range(requests))
    failed: list[int] = []

    async def worker() -> None:
        client, used = None, 0
        try:
            for i in numbers:
                if client is None or used >= per_address:  # same address rule as the load itself
                    if client is not None:
                        await client.aclose()
                    transport = httpx.AsyncHTTPTransport(local_address=fresh_loopback())
                    client = httpx.AsyncClient(base_url=base, headers=headers, transport=transport, timeout=10)
                    used = 0
                used += 1
                try:
                    r = await client.delete(f"/api/inventory/{BENCH_SKU_PREFIX}{run_id}-{i}")
                    if r.status_code not in (204, 404):  # 404: that request never created its item
                        failed.append(i)
                except httpx.HTTPError:
                    failed.append(i)
        finally:
            if client is not None:
                await client.aclose()

    async def delete_all() -> None:
        await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(delete_all())
    return f"{len(failed)} bench items could not be removed" if failed else "bench items removed"
