"""Protocol-level readiness probes, one per `Healthcheck.probe` kind.

A probe is a zero-argument callable returning a `ProbeResult`; it never raises and never takes
longer than the healthcheck's `timeout` (every client call below is given that timeout).
"""

from __future__ import annotations

import dataclasses
import functools
import socket
import ssl
import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

from stagectl.config.model import Healthcheck


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    # a failure that already is a verdict (Docker's own healthcheck, with its retries, said
    # "unhealthy"): the wait engine fails the service at once instead of counting retries
    final: bool = False


Probe = Callable[[], ProbeResult]


def _failure(exc: BaseException) -> ProbeResult:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ProbeResult(False, f"{type(exc).__name__}: {text}"[:200])


def tcp_probe(host: str, port: int, timeout: float) -> Probe:
    def probe() -> ProbeResult:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return ProbeResult(True, f"tcp {host}:{port} open")
        except OSError as exc:
            return _failure(exc)

    return probe


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying SSL context for every https probe (loading the CA bundle costs 40–140 ms of
    CPU; done per client it was paid once per service while all of them start)."""
    return ssl.create_default_context()


def _tls_for(url: str) -> ssl.SSLContext | bool:
    """What the probe's client gets as `verify`: plain http never does TLS, so it gets no
    context at all (httpx would otherwise build one and load the CA bundle for nothing)."""
    return _ssl_context() if url.startswith("https://") else False


def http_probe(url: str, timeout: float, *, expect: Callable[[httpx.Response], bool] | None = None,
               headers: Mapping[str, str] | None = None) -> Probe:
    """GET `url`; healthy on a 2xx answer (or when `expect` accepts the response)."""

    # One client per probe, made on first use: `httpx.get` builds a client, and with it an SSL
    # context, on every call (~40 ms CPU here), which at a 50 ms start_interval kept most of a core
    # busy during `up`. No keep-alive, so every probe still opens a fresh connection (a pooled one
    # could hide a listener that went away).
    clients: list[httpx.Client] = []

    def probe() -> ProbeResult:
        # imported here, not at module level: the CLI imports this module on its way to the
        # supervisor fork, and httpx (~0.1 s with the CLI tool it loads) is only needed by probes
        import httpx

        if not clients:
            clients.append(httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), verify=_tls_for(url)))
        try:
            response = clients[0].get(url, timeout=timeout, headers=dict(headers or {}))
        except httpx.HTTPError as exc:
            return _failure(exc)
        ok = expect(response) if expect else response.is_success
        return ProbeResult(ok, f"GET {httpx.URL(url).path} → {response.status_code}")

    return probe


def postgres_probe(host: str, port: int, user: str, password: str, dbname: str, timeout: float) -> Probe:
    def probe() -> ProbeResult:
        import psycopg

        try:
            # connect_timeout is whole seconds; at least 1
            with psycopg.connect(
                host=host, port=port, user=user, password=password, dbname=dbname,
                connect_timeout=max(1, int(timeout)), options=f"-c statement_timeout={int(timeout * 1000)}",
            ) as conn:
                conn.execute("select 1").fetchone()
            return ProbeResult(True, "select 1 ok")
        except psycopg.Error as exc:
            # the message never contains the password (psycopg does not echo it)
            return _failure(exc)

    return probe


def redis_probe(host: str, port: int, password: str | None, timeout: float) -> Probe:
    def probe() -> ProbeResult:
        import redis

        client = redis.Redis(host=host, port=port, password=password or None,
                             socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            return ProbeResult(bool(client.ping()), "PING → PONG")
        except redis.RedisError as exc:
            return _failure(exc)
        finally:
            client.close()

    return probe


def exec_probe(argv: list[str], timeout: float, env: Mapping[str, str]) -> Probe:
    def probe() -> ProbeResult:
        try:
            done = subprocess.run(argv, env=dict(env), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return ProbeResult(False, f"exec timed out after {timeout}s")
        except OSError as exc:
            return _failure(exc)
        return ProbeResult(done.returncode == 0, f"exec exit {done.returncode}")

    return probe


def build_probe(check: Healthcheck, *, port: int, env: Mapping[str, str], host: str = "127.0.0.1",
                headers: Mapping[str, str] | None = None) -> Probe:
    """The probe for one service's healthcheck, talking to 127.0.0.1:`port`.

    `headers` go with http probes (e.g. the LLM stand-in's Bearer key on /v1/models).
    """
    timeout = check.timeout
    base = f"http://{host}:{port}"
    kind = check.probe
    if kind == "tcp":
        return tcp_probe(host, port, timeout)
    if kind == "http":
        return http_probe(base + (check.path or "/"), timeout, headers=headers)
    if kind == "prometheus":
        return http_probe(base + (check.path or "/-/ready"), timeout)
    if kind == "s3":
        # moto answers its own API path; a real S3 answers ListBuckets (GET /) even when it is 403
        if check.path:
            return http_probe(base + check.path, timeout)
        return http_probe(base + "/", timeout, expect=lambda r: r.status_code in (200, 403))
    if kind == "postgres":
        return postgres_probe(host, port, env.get("POSTGRES_USER", "postgres"), env.get("POSTGRES_PASSWORD", ""),
                              env.get("POSTGRES_DB", "postgres"), timeout)
    if kind == "redis":
        return redis_probe(host, port, env.get("REDIS_PASSWORD"), timeout)
    if kind == "exec":
        if not check.command:
            raise ValueError("exec probe needs healthcheck.command")
        return exec_probe(check.command, timeout, env)
    raise ValueError(f"unknown probe kind {kind!r}")
