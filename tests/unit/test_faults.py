"""Fault restore-always semantics with a fake backend (no processes).

Faults caught: a restore skipped when the block raises or is interrupted (Ctrl-C), a second Ctrl-C
abandoning the restore, a fault that fails half-way leaving the service broken, PostgreSQL stopped
with SIGTERM (its smart shutdown never ends while the dashboard's pool is connected), the S3 bucket
not re-created after a moto restart, and faults silently applied to the wrong service."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stagectl.backends.base import ServiceStatus
from stagectl.chaos import faults
from stagectl.chaos.faults import FaultTarget, injected, run_restore
from stagectl.config.model import Stack
from stagectl.errors import ConfigError
from stagectl.runners import FAULT_ROLES, service_for_role

REPO = Path(__file__).resolve().parents[2]

HEALTH = {"probe": "tcp"}


def _stack() -> Stack:
    def svc(runner: str, port: int, **extra) -> dict:
        return {"runner": runner, "port": port, "container_port": port, "healthcheck": HEALTH,
                "stop_grace_period": "1s", **extra}

    return Stack.model_validate({"version": 1, "project": "t", "services": {
        "postgres": svc("postgres", 1, stop_signal="SIGINT"), "redis": svc("redis", 2),
        "s3": svc("moto", 3), "llm": svc("llm_stub", 4)}})


class FakeBackend:
    """Records signals and starts; a stopped service shows as exited right away."""

    name = "fake"

    def __init__(self, fail_start: BaseException | None = None):
        self.calls: list[tuple] = []
        self.stopped: set[str] = set()
        self.fail_start = fail_start

    def signal(self, service: str, sig: int) -> None:
        self.calls.append(("signal", service, sig))
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
            self.stopped.add(service)

    def start(self, service: str, *, wait_timeout: float) -> ServiceStatus:
        self.calls.append(("start", service))
        if self.fail_start is not None:
            error, self.fail_start = self.fail_start, None
            raise error
        self.stopped.discard(service)
        return ServiceStatus(service, "healthy", True, 1, 1)

    def status(self) -> list[ServiceStatus]:
        return [ServiceStatus(n, "exited" if n in self.stopped else "healthy", n not in self.stopped, 1, 1)
                for n in ("postgres", "redis", "s3", "llm")]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def target(backend) -> FaultTarget:
    return FaultTarget(backend, _stack(), {"S3_BUCKET_NAME": "b"}, wait_timeout=5)


def test_stop_uses_the_services_own_stop_signal_and_restore_restarts(backend, target):
    with injected("stop", target, "database"):
        assert backend.calls == [("signal", "postgres", signal.SIGINT)]
    assert backend.calls[-1] == ("start", "postgres")
    with injected("stop", target, "redis"):
        assert backend.calls[-1] == ("signal", "redis", signal.SIGTERM)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_restore_runs_when_the_block_fails_or_is_interrupted(backend, target, error):
    with pytest.raises(type(error)):
        with injected("freeze", target, "redis"):
            raise error
    assert backend.calls == [("signal", "redis", signal.SIGSTOP), ("signal", "redis", signal.SIGCONT)]


def test_a_second_ctrl_c_during_restore_does_not_abandon_it(backend, target):
    backend.fail_start = KeyboardInterrupt()  # the user presses Ctrl-C again while we restart
    with pytest.raises(KeyboardInterrupt):
        with injected("stop", target, "redis"):
            raise KeyboardInterrupt
    assert backend.calls.count(("start", "redis")) == 2
    assert "redis" not in backend.stopped


def test_run_restore_gives_up_after_its_attempts():
    calls = []

    def restore():
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_restore(restore, attempts=2)
    assert len(calls) == 2


def test_a_failed_restore_is_not_swallowed(backend, target):
    backend.fail_start = RuntimeError("cannot start")
    with pytest.raises(RuntimeError, match="cannot start"):
        with injected("stop", target, "redis"):
            pass


def test_a_fault_failing_half_way_restores_first(backend, target, monkeypatch):
    def hang(*_args):
        raise KeyboardInterrupt  # Ctrl-C while waiting for the process to exit

    monkeypatch.setattr(faults, "_wait_not_running", hang)
    with pytest.raises(KeyboardInterrupt):
        with injected("stop", target, "database"):
            pytest.fail("the block must not run when the injection failed")
    assert backend.calls[-1] == ("start", "postgres")


def test_s3_restart_reinitialises_the_bucket(backend, target, monkeypatch):
    seen = []
    monkeypatch.setattr(faults, "reinit_s3", lambda t: seen.append(t))
    with injected("stop", target, "s3"):
        assert seen == []
    assert seen == [target] and backend.calls[-1] == ("start", "s3")


def test_llm_modes_switch_and_restore_normal(target, monkeypatch):
    modes = []
    monkeypatch.setattr(faults, "set_llm_mode", lambda t, mode: modes.append(mode))
    with pytest.raises(RuntimeError):
        with injected("hang", target, "openai"):
            raise RuntimeError
    assert modes == ["hang", "normal"]


@pytest.mark.parametrize("kind,service", [("error", "database"), ("nope", "redis"), ("stop", "mongodb")])
def test_wrong_fault_or_service_is_a_config_error_and_touches_nothing(backend, target, kind, service):
    with pytest.raises(ConfigError):
        with injected(kind, target, service):
            pass
    assert backend.calls == []


def test_every_contract_service_maps_to_a_stack_service(target):
    assert {role: target.service(role) for role in FAULT_ROLES} == {
        "database": "postgres", "redis": "redis", "s3": "s3", "openai": "llm"}


def test_the_repo_stack_provides_every_dependency_chaos_breaks():
    from stagectl.render import committed_project

    services = committed_project(REPO).stack.services
    assert {role: service_for_role(services, role) for role in FAULT_ROLES} == {
        "database": "postgres", "redis": "redis", "s3": "s3", "openai": "llm"}
