"""Latency benchmark of the Dashboard API against real services.

    python benchmarks/bench_dashboard.py                       # spawns PostgreSQL, Redis, moto, the
                                                               # LLM stub and the dashboard on free ports
    python benchmarks/bench_dashboard.py --url http://127.0.0.1:8080   # a running dashboard
                                                               # (key from $DASHBOARD_API_KEY)

A bounded loop: ``--requests`` per endpoint, spread over ``--concurrency`` concurrent clients;
prints p50/p95/p99 of ``GET /health`` and ``GET /api/inventory`` (and ``--json`` for machines).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = (("GET /health", "/health"), ("GET /api/inventory", "/api/inventory"))


async def run_endpoint(url: str, key: str, path: str, requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    cache: Counter = Counter()
    queue = iter(range(requests))   # shared bounded work list: no client can run forever

    async def client_loop(client: httpx.AsyncClient) -> None:
        for _ in queue:
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1
            if "X-Cache" in response.headers:
                cache[response.headers["X-Cache"]] += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=10, limits=limits) as client:
        await client.get(path)   # warm-up (connection, first cache fill); not measured
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"requests": len(latencies), "concurrency": concurrency, "p50_ms": round(cuts[49], 2),
            "p95_ms": round(cuts[94], 2), "p99_ms": round(cuts[98], 2), "max_ms": round(max(latencies), 2),
            "rps": round(len(latencies) / wall, 1), "statuses": dict(statuses), "x_cache": dict(cache)}


@contextlib.contextmanager
def spawned_stack(products: int):
    """Real services on free loopback ports (the integration tests' helpers), always stopped."""
    sys.path.insert(0, str(ROOT / "dashboard" / "tests"))
    import dashboard_procs as dp
    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    procs = []
    try:
        pg_pw, redis_pw, llm_key = (secrets.token_urlsafe(16) for _ in range(3))
        pg, pg_info = dp.postgres(tmp, pg_pw)
        procs.append(pg)
        rd, rd_info = dp.redis(tmp, redis_pw)
        procs.append(rd)
        s3, s3_url = dp.moto(tmp)
        procs.append(s3)
        llm, llm_url = dp.llm_stub(tmp, llm_key)
        procs.append(llm)
        key = secrets.token_urlsafe(24)
        env = {"ENVIRONMENT": "staging", "DASHBOARD_API_KEY": key, "LOG_LEVEL": "WARNING",
               "POSTGRES_PORT": str(pg_info["port"]), "POSTGRES_DB": pg_info["dbname"],
               "POSTGRES_USER": pg_info["user"], "POSTGRES_PASSWORD": pg_pw,
               "REDIS_PORT": str(rd_info["port"]), "REDIS_PASSWORD": redis_pw,
               "S3_ENDPOINT_URL": s3_url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
               "OPENAI_API_KEY": llm_key, "OPENAI_BASE_URL": llm_url + "/v1",
               "DASHBOARD_RATELIMIT_REQUESTS": "1000000"}
        dash = dp.Dashboard(tmp, env, name="dashboard")
        procs.append(dash.proc)
        dash.start()
        with httpx.Client(base_url=dash.url, headers={"X-API-Key": key}, timeout=10) as client:
            deadline = time.monotonic() + 30
            while client.get("/health").json()["degradation_level"] != "OPTIMAL":
                if time.monotonic() > deadline:
                    raise RuntimeError("dashboard did not reach OPTIMAL in 30 s")
                time.sleep(0.2)
            for i in range(products):
                client.post("/api/inventory", json={"sku": f"BENCH-{i:05d}", "name": f"Product {i}",
                                                    "category": f"cat{i % 7}", "price": 1.5, "quantity": i % 50})
        yield dash.url, key
    finally:
        for proc in reversed(procs):
            proc.close()
        shutil.rmtree(tmp, ignore_errors=True)   # the services' logs and data


async def bench(url: str, key: str, requests: int, concurrency: int) -> dict:
    return {name: await run_endpoint(url, key, path, requests, concurrency) for name, path in ENDPOINTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running dashboard (default: spawn a real stack on free ports)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per endpoint (bounded loop)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--products", type=int, default=200, help="products created when spawning")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]))
    if args.url:
        key = os.environ.get("DASHBOARD_API_KEY", "")
        if not key:
            parser.error("--url needs DASHBOARD_API_KEY in the environment")
        stack = contextlib.nullcontext((args.url, key))
    else:
        stack = spawned_stack(args.products)
    with stack as (url, key):
        results = asyncio.run(bench(url, key, args.requests, args.concurrency))
    if args.json:
        print(json.dumps(results, indent=2))
    for name, r in results.items():
        print(f"{name:22} n={r['requests']} c={r['concurrency']}  p50={r['p50_ms']} ms  p95={r['p95_ms']} ms  "
              f"p99={r['p99_ms']} ms  max={r['max_ms']} ms  {r['rps']} req/s  statuses={r['statuses']}"
              + (f"  X-Cache={r['x_cache']}" if r["x_cache"] else ""))
    ok = all(set(r["statuses"]) == {200} for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
