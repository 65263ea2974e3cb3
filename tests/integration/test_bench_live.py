"""The bench's own moving part without the stack: the bare uvicorn ceiling app is started on a free
port, measured with the same load loop as the dashboard, and gone afterwards (also after an error).
The stack-level bench runs in test_chaos_live.py, sharing its stack to keep the tier short.

Faults caught: a ceiling app left running, a load loop that reports successes it never got, and
percentiles that do not come from the measured run."""

from __future__ import annotations

import asyncio

import httpx
import psutil
import pytest

from stagectl.bench.load import Request, ceiling_server, load_http

pytestmark = pytest.mark.integration


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_ceiling_app_is_measured_and_stopped():
    before = _children()
    with ceiling_server() as url:
        assert httpx.get(url, timeout=5).text == "hello"
        m = asyncio.run(load_http("ceiling_hello", "ceiling", url, Request("GET", "/"), headers={}, requests=60,
                                  concurrency=10, time_limit_s=20, per_address=10))
        started = _children() - before
    assert (m.count, m.ok, m.errors) == (60, 60, 0)
    assert 0 < m.p50_ms <= m.p95_ms <= m.p99_ms and m.throughput_rps > 0
    assert started and not (_children() & started), "the ceiling app must be gone"
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=1)


def test_ceiling_app_is_stopped_when_the_measurement_fails():
    before = _children()
    with pytest.raises(RuntimeError):
        with ceiling_server():
            started = _children() - before
            raise RuntimeError("measurement failed")
    assert started and not (_children() & started)
