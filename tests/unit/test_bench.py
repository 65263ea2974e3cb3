"""Bench statistics and verdicts, and the HTTP load loop against a local ASGI-free stub server.

Faults caught: a 429 counted as a success, errors hidden by percentiles over successes only, a p95
over its limit passing, a missing PERF_* limit defaulting silently, a load loop that ignores its
request or time bound, clients sharing one source address (so the limiter would be measured)."""

from __future__ import annotations

import asyncio
import http.server
import threading

import pytest

from stagectl.bench.load import Measurement, Request, confirm_miss, judge, load_http, summarize, time_direct, with_ceiling
from stagectl.bench.stack import _limit
from stagectl.errors import ConfigError


def test_percentiles_are_interpolated_over_successes():
    m = summarize(Measurement("x", "http"), [float(i) for i in range(1, 101)], wall_s=2.0)
    assert (m.p50_ms, m.p95_ms, m.p99_ms) == (50.5, 95.05, 99.01)
    assert m.ok == 100 and m.throughput_rps == 50.0


def test_judge_fails_on_errors_even_with_fast_successes():
    m = summarize(Measurement("x", "http", count=10, errors=1, error_kinds={"rate_limited_429": 1},
                              limit_var="PERF_API_P95_MS", limit_ms=500), [1.0] * 9, 1.0)
    assert judge(m).status == "fail" and "rate_limited_429" in m.detail


def test_judge_fails_on_a_p95_over_the_limit_and_passes_within():
    slow = summarize(Measurement("x", "http", count=20, limit_var="PERF_HEALTH_P95_MS", limit_ms=100),
                     [10.0] * 18 + [150.0, 150.0], 1.0)
    assert judge(slow).status == "fail" and "PERF_HEALTH_P95_MS" in slow.detail
    fast = summarize(Measurement("x", "http", count=20, limit_var="PERF_HEALTH_P95_MS", limit_ms=100),
                     [10.0] * 20, 1.0)
    assert judge(fast).status == "pass"


def test_judge_fails_with_nothing_measured():
    assert judge(summarize(Measurement("x", "http"), [], 1.0)).status == "fail"


def test_missing_limit_is_a_config_error():
    with pytest.raises(ConfigError, match="PERF_API_P95_MS"):
        _limit({}, "PERF_API_P95_MS")


def test_ratio_to_ceiling():
    ceiling = summarize(Measurement("c", "ceiling"), [1.0, 1.0, 1.0], 0.1)
    endpoint = summarize(Measurement("e", "http"), [4.0, 4.0, 4.0], 0.3)
    with_ceiling([ceiling, endpoint], ceiling)
    assert endpoint.ratio_p50_to_ceiling == 4.0 and endpoint.ratio_throughput_to_ceiling == pytest.approx(0.333, abs=1e-3)


def test_time_direct_counts_exceptions_as_errors():
    def op(i):
        if i % 4 == 0:
            raise TimeoutError
    m = time_direct("redis_op", op, count=20, time_limit_s=5)
    assert (m.count, m.ok, m.errors, m.error_kinds) == (20, 15, 5, {"TimeoutError": 5})


class _Handler(http.server.BaseHTTPRequestHandler):
    """200 for the first 3 requests of each peer address, then 429 (a per-client limiter)."""

    seen: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 - http.server's naming
        with self.lock:
            count = self.seen[self.client_address[0]] = self.seen.get(self.client_address[0], 0) + 1
        self.send_response(200 if count <= 3 else 429)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def limited_server():
    _Handler.seen = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _load(url, per_address, requests=30, time_limit_s=10.0):
    return asyncio.run(load_http("t", "http", url, Request("GET", "/"), headers={}, requests=requests,
                                 concurrency=3, time_limit_s=time_limit_s, per_address=per_address))


def test_clients_rotate_source_addresses_and_stay_under_the_limit(limited_server):
    m = _load(limited_server, per_address=3)
    assert (m.count, m.ok, m.errors, m.rate_limited) == (30, 30, 0, 0)
    assert max(_Handler.seen.values()) <= 3 and len(_Handler.seen) >= 10
    assert all(addr.startswith("127.") and addr != "127.0.0.1" for addr in _Handler.seen)


def test_429s_are_counted_as_errors_not_successes(limited_server):
    m = _load(limited_server, per_address=10)
    assert m.rate_limited == m.errors > 0 and m.ok + m.errors == m.count == 30
    assert judge(m).status == "fail"


def test_the_loop_honours_its_time_bound(limited_server):
    m = _load(limited_server, per_address=3, requests=100_000, time_limit_s=0.3)
    assert m.count < 100_000 and m.wall_s < 3


def _redis(latencies, errors=0):
    m = Measurement("redis_op", "direct", count=len(latencies) + errors, errors=errors,
                    error_kinds={"TimeoutError": errors} if errors else {}, limit_var="PERF_REDIS_OP_MS", limit_ms=5)
    return summarize(m, latencies, 1.0)


def _never():
    raise AssertionError("measured again although the first measurement settles it")


def test_a_met_target_is_not_measured_again():
    m = confirm_miss(_redis([1.0] * 20), _never)
    assert (m.status, m.first_p95_ms, m.detail) == ("pass", None, "")


def test_errors_are_never_measured_again():
    m = confirm_miss(_redis([1.0] * 20, errors=1), _never)
    assert m.status == "fail" and "1 of 21 failed" in m.detail


def test_a_latency_miss_is_judged_on_a_second_measurement_that_keeps_the_first_on_record():
    first = _redis([1.0] * 10 + [9.0] * 10)
    m = confirm_miss(first, lambda: _redis([1.0] * 20))
    assert m.status == "pass" and m.first_p95_ms == first.p95_ms == 9.0
    assert m.limit_ms == 5 and "first p95 of 9.0 ms" in m.detail


def test_a_latency_miss_that_repeats_fails():
    m = confirm_miss(_redis([9.0] * 20), lambda: _redis([8.0] * 20))
    assert m.status == "fail" and m.p95_ms == 8.0 and m.first_p95_ms == 9.0
    assert "p95 8.0 ms > PERF_REDIS_OP_MS=5 ms" in m.detail and "first p95 of 9.0 ms" in m.detail


def _read(latencies, p99_limit=25.0):
    m = Measurement("inventory_list", "http", count=len(latencies), limit_var="PERF_API_P95_MS", limit_ms=500,
                    p99_limit_var="PERF_READ_P99_MS", p99_limit_ms=p99_limit)
    return summarize(m, latencies, 1.0)


def test_a_read_whose_p99_is_over_its_limit_fails_though_its_p95_passes():
    slow_tail = _read([10.0] * 97 + [60.0] * 3)  # p95 10 ms (within 500), p99 60 ms
    assert judge(slow_tail).status == "fail"
    assert "p99 60.0 ms > PERF_READ_P99_MS=25 ms" in slow_tail.detail and "p95" not in slow_tail.detail
    assert judge(_read([10.0] * 100)).status == "pass"


def test_a_p99_miss_is_measured_again_and_the_first_miss_stays_on_record():
    m = confirm_miss(_read([10.0] * 97 + [60.0] * 3), lambda: _read([12.0] * 100, p99_limit=999))
    assert m.status == "pass" and m.p99_limit_ms == 25  # the first measurement's targets, not the second's
    assert "first p95 of 10.0 ms (p99 60.0 ms > PERF_READ_P99_MS=25 ms)" in m.detail


def _health(rps_share, ceiling_rps=1000.0):
    ceiling = summarize(Measurement("ceiling_hello", "ceiling"), [1.0] * 100, 100 / ceiling_rps)
    m = summarize(Measurement("health", "http", count=100, limit_var="PERF_HEALTH_P95_MS", limit_ms=100,
                              share_var="PERF_HEALTH_CEILING_SHARE", min_ceiling_share=0.5),
                  [2.0] * 100, 100 / (ceiling_rps * rps_share))
    return with_ceiling([m], ceiling)[0]


def test_health_below_its_share_of_the_ceiling_fails_and_at_it_passes():
    slow = judge(_health(0.4))
    assert slow.status == "fail" and slow.ratio_throughput_to_ceiling == 0.4
    assert "is 0.4 of the ceiling's 1000.0 req/s < PERF_HEALTH_CEILING_SHARE=0.5" in slow.detail
    assert judge(_health(0.5)).status == "pass" and judge(_health(0.9)).status == "pass"


def test_a_share_target_without_a_measured_ceiling_fails():
    m = summarize(Measurement("health", "http", count=100, share_var="PERF_HEALTH_CEILING_SHARE",
                              min_ceiling_share=0.5), [2.0] * 100, 0.1)
    assert m.ratio_throughput_to_ceiling is None and judge(m).status == "fail"


def test_share_and_p99_targets_come_from_the_env_and_bad_values_are_config_errors():
    from stagectl.bench.stack import HTTP_TARGETS, _share

    assert {n for n, t in HTTP_TARGETS.items() if t.p99_var == "PERF_READ_P99_MS"} == {"inventory_list",
                                                                                        "analytics_summary"}
    assert [n for n, t in HTTP_TARGETS.items() if t.share_var] == ["health"]
    assert _share({"PERF_HEALTH_CEILING_SHARE": "0.5"}, "PERF_HEALTH_CEILING_SHARE") == 0.5
    for bad in ({}, {"PERF_HEALTH_CEILING_SHARE": "half"}, {"PERF_HEALTH_CEILING_SHARE": "50"}):
        with pytest.raises(ConfigError, match="PERF_HEALTH_CEILING_SHARE"):
            _share(bad, "PERF_HEALTH_CEILING_SHARE")


def test_the_ceiling_share_is_judged_only_for_a_dashboard_reached_like_the_ceiling(monkeypatch):
    """Fault seen in CI: under compose /health (through Docker's port proxy) was judged against a
    ceiling reached directly, and failed at 0.478 of it."""
    from stagectl.bench.stack import ceiling_not_comparable
    from stagectl.loopback import FORWARDED_FOR_ENV

    monkeypatch.delenv(FORWARDED_FOR_ENV, raising=False)
    assert ceiling_not_comparable(None) is None
    assert "elsewhere" in (ceiling_not_comparable("https://staging.example") or "")
    monkeypatch.setenv(FORWARDED_FOR_ENV, "1")
    assert "port proxy" in (ceiling_not_comparable(None) or "")


def test_a_second_try_at_the_share_is_judged_against_a_ceiling_measured_again(monkeypatch):
    """The ceiling is measured in a fraction of a second: a /health share missed once is measured
    again beside a fresh ceiling measurement, not against the first one (fake loads, real logic)."""
    import contextlib

    from stagectl.bench import stack

    # throughput by call: the first ceiling ran in a quiet moment, everything after under load
    rates = {"ceiling_hello": iter([1000.0, 800.0]), "health": iter([440.0, 450.0])}
    calls: list[str] = []

    async def fake_load(name, kind, base_url, request, **_):
        calls.append(name)
        rps = next(rates[name]) if name in rates else 500.0
        return summarize(Measurement(name, kind, count=100), [1.0] * 100, 100 / rps)

    monkeypatch.setattr(stack, "load_http", fake_load)
    monkeypatch.setattr(stack, "ceiling_server", lambda: contextlib.nullcontext("http://127.0.0.1:1"))
    monkeypatch.setattr(stack, "ceiling_not_comparable", lambda url: None)
    monkeypatch.setattr(stack, "_remove_bench_items", lambda *a, **k: "removed")
    monkeypatch.setattr(stack, "_measure_direct", lambda *a, **k: [])
    env = {var: "100" for var in ("PERF_HEALTH_P95_MS", "PERF_API_P95_MS", "PERF_READ_P99_MS")}
    env["PERF_HEALTH_CEILING_SHARE"] = "0.5"
    run = stack.run_bench(env, {"dashboard": 1}, "key", requests=100, concurrency=2, time_limit_s=5, direct_count=10)
    health = next(m for m in run.targets if m.name == "health")
    assert calls[:4] == ["ceiling_hello", "health", "ceiling_hello", "health"]
    assert health.status == "pass" and health.ceiling_rps == 800.0 and health.ratio_throughput_to_ceiling == 0.562
    assert "0.44 of the ceiling's 1000.0 req/s" in health.first_miss
    assert [m.throughput_rps for m in run.targets if m.name == "ceiling_hello"] == [1000.0], "the first ceiling is the one reported"
