"""Faults for `stagectl chaos`: small functions that break one dependency and return its `restore()`.

`FAULTS` maps a fault name to `fn(target, service) -> restore`; `service` is a dependency of the
dashboard (database, openai, redis, s3 — docs/contract.md §4), mapped to the stack's service by the
runner that provides it (`Runner.fault_role` in stagectl/runners.py).
A fault that fails half-way restores what it did before raising. `injected()` is the only way the
chaos runner uses them: the restore always runs (try/finally), also on Ctrl-C, and a second Ctrl-C
during the restore does not abandon it (the restore is retried once before the interrupt wins).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Iterator, Mapping

import httpx

from stagectl.backends.base import Backend
from stagectl.config.model import Stack
from stagectl.errors import ConfigError, StagectlError
from stagectl.runners import FAULT_ROLES, service_for_role

Restore = Callable[[], None]
LLM_MODES = ("error", "hang")


@dataclasses.dataclass
class FaultTarget:
    """What a fault acts on: the running stack's backend, its spec and resolved environment."""

    backend: Backend
    stack: Stack
    env: Mapping[str, str]
    wait_timeout: float = 60.0  # restart of a stopped service until healthy
    http_timeout: float = 5.0

    def service(self, role: str) -> str:
        """The stack's service providing dependency `role`; ConfigError when none does."""
        name = service_for_role(self.stack.services, role)
        if name is None:
            raise ConfigError(f"unknown service {role!r}; known: {', '.join(FAULT_ROLES)}")
        return name


def _guarded(action: Callable[[], None], restore: Restore) -> Restore:
    """Run `action`; if it fails (or is interrupted) half-way, restore before re-raising."""
    try:
        action()
    except BaseException:
        run_restore(restore)
        raise
    return restore


def stop(target: FaultTarget, service: str) -> Restore:
    """Stop the service with its own stop signal (PostgreSQL: SIGINT — SIGTERM is its *smart*
    shutdown, which waits for the dashboard's pooled connections forever); restore restarts it."""
    name = target.service(service)
    svc = target.stack.services[name]

    def action() -> None:
        target.backend.signal(name, int(getattr(signal, svc.stop_signal)))
        _wait_not_running(target, name, svc.stop_grace_period + 2.0)

    def restore() -> None:
        target.backend.start(name, wait_timeout=target.wait_timeout)
        if svc.runner == "moto":  # moto keeps its buckets in memory: a restart loses them
            reinit_s3(target)

    return _guarded(action, restore)


def _wait_not_running(target: FaultTarget, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = next((r for r in target.backend.status() if r.name == name), None)
        if row is None or row.state in ("exited", "stopped"):
            return
        time.sleep(0.05)
    target.backend.signal(name, signal.SIGKILL)  # the grace period is over: do what `down` would


def freeze(target: FaultTarget, service: str) -> Restore:
    """SIGSTOP: the process keeps its port but never answers (a hung dependency); restore SIGCONT."""
    name = target.service(service)
    return _guarded(lambda: target.backend.signal(name, signal.SIGSTOP),
                    lambda: target.backend.signal(name, signal.SIGCONT))


def llm_url(target: FaultTarget) -> str:
    return f"http://127.0.0.1:{target.stack.services[target.service('openai')].port}"


def set_llm_mode(target: FaultTarget, mode: str) -> None:
    """Switch the LLM stand-in through its admin endpoint (llm_stub.py) and verify the answer."""
    key = target.env.get("OPENAI_API_KEY", "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(f"{llm_url(target)}/_admin/mode", json={"mode": mode}, headers=headers,
                          timeout=target.http_timeout)
    if response.status_code != 200 or response.json().get("mode") != mode:
        raise StagectlError(f"the LLM stand-in refused mode {mode!r}: HTTP {response.status_code}")


def _llm_mode(mode: str) -> Callable[[FaultTarget, str], Restore]:
    def fault(target: FaultTarget, service: str) -> Restore:
        if service != "openai":
            raise ConfigError(f"fault {mode!r} applies only to openai (the LLM stand-in), not {service!r}")
        return _guarded(lambda: set_llm_mode(target, mode), lambda: set_llm_mode(target, "normal"))

    fault.__doc__ = f"The LLM stand-in answers in {mode!r} mode; restore = normal mode."
    return fault


def reinit_s3(target: FaultTarget) -> None:
    """Re-create the bucket and its settings (stagectl.s3init, idempotent) after an S3 restart."""
    from stagectl.s3init import init_s3

    e = target.env
    init_s3(f"http://127.0.0.1:{target.stack.services[target.service('s3')].port}",
            e["S3_BUCKET_NAME"], e.get("AWS_DEFAULT_REGION", "us-east-1"), e.get("AWS_ACCESS_KEY_ID", ""),
            e.get("AWS_SECRET_ACCESS_KEY", ""), e.get("S3_CORS_ORIGINS", ""),
            int(e.get("S3_LIFECYCLE_NONCURRENT_DAYS") or 30))


FAULTS: dict[str, Callable[[FaultTarget, str], Restore]] = {
    "stop": stop,
    "freeze": freeze,
    **{mode: _llm_mode(mode) for mode in LLM_MODES},
}


def run_restore(restore: Restore, attempts: int = 2) -> None:
    """Run `restore`; a Ctrl-C in the middle retries it (up to `attempts`) before propagating."""
    interrupted: BaseException | None = None
    for _ in range(attempts):
        try:
            restore()
            break
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


@contextlib.contextmanager
def injected(kind: str, target: FaultTarget, service: str) -> Iterator[Restore]:
    """Inject fault `kind` into contract service `service` for the duration of the block."""
    if kind not in FAULTS:
        raise ConfigError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
    target.service(service)  # ConfigError for a dependency the stack does not have
    restore = FAULTS[kind](target, service)
    try:
        yield restore
    finally:
        run_restore(restore)
