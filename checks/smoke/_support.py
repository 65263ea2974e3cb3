"""Helpers of the live smoke suite: the configuration it expects, HTTP clients, bounded waits,
Prometheus scraping.

Every expected value comes from the environment the suite was given (the project's variables);
a missing variable fails the test that needs it — there are no defaults that could equal the
value under test.
"""

from __future__ import annotations

import ipaddress
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

SERVICES = ("database", "openai", "redis", "s3")
STATUS_VALUE = {"up": 1.0, "degraded": 0.5, "down": 0.0}
BREAKER_PREFIX = {"database": "DB", "openai": "OPENAI", "redis": "REDIS", "s3": "S3"}
SERVICE_FIELDS = {"status", "latency_ms", "weight", "last_check", "last_error", "circuit_breaker", "endpoint"}
BREAKER_FIELDS = {"state", "failure_count", "failure_threshold", "recovery_timeout_s", "half_open_max_calls"}
LOG_FIELDS = ("ts", "level", "logger", "msg", "request_id", "method", "route", "status", "duration_ms", "client_ip")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class SmokeConfig:
    """The target and the configured values the live service must match."""

    def __init__(self, environ: dict[str, str]):
        self.env = environ
        url = environ.get("STAGECTL_TARGET_URL", "")
        if not url:
            raise pytest.UsageError("STAGECTL_TARGET_URL is not set (run the suite through `stagectl smoke`)")
        self.url = url.rstrip("/")
        key_var = environ.get("STAGECTL_API_KEY_ENV") or "DASHBOARD_API_KEY"
        self.api_key_var = key_var
        self.api_key = environ.get(key_var, "")
        log = environ.get("STAGECTL_DASHBOARD_LOG", "")
        self.dashboard_log = Path(log) if log else None

    def require(self, name: str) -> str:
        value = self.env.get(name)
        if value is None or value == "":
            pytest.fail(f"{name} is not set in the environment the smoke suite received", pytrace=False)
        return value

    def int(self, name: str) -> int:
        return int(self.require(name))

    def float(self, name: str) -> float:
        return float(self.require(name))

    def bool(self, name: str) -> bool:
        value = self.require(name).strip().lower()
        if value not in TRUE | FALSE:
            pytest.fail(f"{name}={value!r} is not a boolean", pytrace=False)
        return value in TRUE

    def weights(self) -> dict[str, int]:
        pairs = (p.split(":") for p in self.require("SERVICE_WEIGHTS").split(",") if p.strip())
        return {name.strip(): int(weight) for name, weight in pairs}

    def breaker(self, service: str) -> dict[str, float]:
        """The three configured `*_CB_*` values of one service, as /health names them."""
        p = BREAKER_PREFIX[service]
        return {"failure_threshold": self.int(f"{p}_CB_FAILURE_THRESHOLD"),
                "recovery_timeout_s": self.float(f"{p}_CB_RECOVERY_TIMEOUT"),
                "half_open_max_calls": self.int(f"{p}_CB_HALF_OPEN_REQUESTS")}

    def recovery_bound_s(self) -> float:
        """How long a healthy stack may take to (re)reach OPTIMAL: the recovery evaluations, plus
        one open breaker's recovery timeout and its half-open trial rounds, plus probe timeouts."""
        interval = self.float("HEALTH_CHECK_INTERVAL")
        checks = self.int("DEGRADATION_RECOVERY_CHECKS")
        slowest_breaker = max(self.float(f"{p}_CB_RECOVERY_TIMEOUT") for p in BREAKER_PREFIX.values())
        trials = max(self.int(f"{p}_CB_HALF_OPEN_REQUESTS") for p in BREAKER_PREFIX.values())
        return interval * (checks + trials + 2) + slowest_breaker + 2 * self.float("HEALTH_CHECK_TIMEOUT") + 5

    def security_headers(self) -> dict[str, str]:
        """Header → exact expected value (docs/contract.md §6), from the configured values."""
        expected = {"Content-Security-Policy": self.require("DASHBOARD_CSP"), "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
        if self.bool("DASHBOARD_ENABLE_HSTS"):
            expected["Strict-Transport-Security"] = f"max-age={self.int('DASHBOARD_HSTS_MAX_AGE')}; includeSubDomains"
        return expected

    def llm_base(self) -> str:
        """The LLM stand-in's root URL (OPENAI_BASE_URL without /v1)."""
        return self.require("OPENAI_BASE_URL").rstrip("/").removesuffix("/v1")

    def is_loopback_target(self) -> bool:
        host = urlsplit(self.url).hostname or ""
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"


def config_from_environ() -> SmokeConfig:
    return SmokeConfig(dict(os.environ))


def random_loopback() -> str:
    """A fresh 127.x.y.z source address: the dashboard keys its rate limiter on the peer address,
    so traffic-heavy tests get their own budget (and a fresh one on every run, even when several
    dashboards share one Redis)."""
    rng = random.SystemRandom()
    return f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def make_client(cfg: SmokeConfig, *, key: str | None = "configured", source: str | None = None,
                bearer: bool = False, timeout: float = 15.0) -> httpx.Client:
    """An httpx client on the target; `key=None` sends no key, any other string sends that key."""
    headers = {}
    value = cfg.api_key if key == "configured" else key
    if value is not None:
        headers = {"Authorization": f"Bearer {value}"} if bearer else {"X-API-Key": value}
    local = source if source and cfg.is_loopback_target() else None
    if local and cfg.env.get("STAGECTL_FORWARDED_FOR") == "1":
        # behind Docker's port proxy the dashboard sees the proxy, not `local`: name it explicitly
        headers["X-Forwarded-For"] = local
    transport = httpx.HTTPTransport(local_address=local) if local else httpx.HTTPTransport()
    return httpx.Client(base_url=cfg.url, headers=headers, timeout=timeout, transport=transport)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25,
             describe: Callable[[], str] | None = None) -> Any:
    """Poll `check()` until it returns something truthy; fail naming `what` and the last state."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            last = describe() if describe else repr(value)
            pytest.fail(f"{what}: not reached within {timeout:.0f}s (last: {last[:800]})", pytrace=False)
        time.sleep(interval)


def full_health(client: httpx.Client) -> dict:
    response = client.get("/health")
    assert response.status_code == 200, f"/health with key answered {response.status_code}: {response.text[:300]}"
    return response.json()


def wait_for_level(client: httpx.Client, level: str, timeout: float) -> dict:
    """The full /health once its degradation_level is `level` (bounded)."""
    last: dict = {}

    def check():
        last.clear()
        last.update(full_health(client))
        return dict(last) if last.get("degradation_level") == level else None

    def describe() -> str:
        services = {n: (s.get("status"), s.get("circuit_breaker", {}).get("state"), s.get("last_error"))
                    for n, s in (last.get("services") or {}).items()}
        return f"level={last.get('degradation_level')} score={last.get('health_score')} services={services}"

    return wait_for(check, timeout, f"degradation level {level}", describe=describe)


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    """/metrics → {(sample name, frozenset(labels)): value}, parsed by prometheus_client."""
    response = client.get("/metrics")
    assert response.status_code == 200, f"/metrics answered {response.status_code}"
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def families(client: httpx.Client) -> set[str]:
    response = client.get("/metrics")
    assert response.status_code == 200, f"/metrics answered {response.status_code}"
    return {f.name for f in text_string_to_metric_families(response.text)}


def sample(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; 0.0 when that labelled series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


# The fewest samples a latency percentile may come from (docs/commands.md, "Latency samples"):
# below 20 the nearest-rank p95 is simply the slowest request, one lucky or unlucky sample.
MIN_LATENCY_SAMPLES = 20


def latency_p95_ms(durations_s: list[float], record_property: Callable[[str, object], None], limit_ms: float) -> float:
    """p95 of `durations_s` in ms, recorded with its sample count (n) as the check's evidence;
    fails when fewer than MIN_LATENCY_SAMPLES were taken (a p95 of one request proves nothing)."""
    n = len(durations_s)
    record_property("n", n)
    if n < MIN_LATENCY_SAMPLES:
        pytest.fail(f"a p95 from {n} samples: at least {MIN_LATENCY_SAMPLES} are needed", pytrace=False)
    p95 = p95_ms(durations_s)
    record_property("p95_ms", round(p95, 3))
    record_property("limit_ms", limit_ms)
    return p95


def p95_ms(durations_s: list[float]) -> float:
    ordered = sorted(durations_s)
    index = max(0, int(round(0.95 * len(ordered))) - 1)
    return ordered[index] * 1000


def png_bytes(size: tuple[int, int] = (640, 480)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


class RateLimitBurst:
    """Send `limit + 1` requests inside one fixed window and keep every response.

    The window is fixed (index = now // window), so the burst first checks the time left in the
    current one (`X-RateLimit-Reset`) and, when the burst might not fit, waits for the next —
    never longer than one window.
    """

    PATH, PARAMS = "/api/inventory", {"limit": 1}

    def __init__(self, client: httpx.Client, limit: int, window: int):
        self.client, self.limit, self.window = client, limit, window
        self.responses: list[httpx.Response] = []  # in this window, in order
        self.waited_s = 0.0

    @classmethod
    def run(cls, client: httpx.Client, limit: int, window: int) -> RateLimitBurst:
        burst = cls(client, limit, window)
        started = time.perf_counter()
        first = client.get(cls.PATH, params=cls.PARAMS)
        per_request = time.perf_counter() - started
        reset = first.headers.get("X-RateLimit-Reset")
        needed = 2.0 * (limit + 1) * max(per_request, 0.01) + 1.0
        if reset is not None and reset.isdigit() and int(reset) < needed:
            burst.waited_s = min(int(reset) + 0.3, window + 1.0)
            time.sleep(burst.waited_s)
        else:
            burst.responses.append(first)
        while len(burst.responses) < limit + 1:
            burst.responses.append(client.get(cls.PATH, params=cls.PARAMS))
        return burst

    @property
    def last(self) -> httpx.Response:
        return self.responses[-1]

    def describe(self) -> str:
        codes = [r.status_code for r in self.responses]
        remaining = [r.headers.get("X-RateLimit-Remaining") for r in self.responses]
        return f"statuses={codes[-5:]} (of {len(codes)}), remaining={remaining[:3]}...{remaining[-3:]}"
