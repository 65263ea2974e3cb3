"""The backend contract: what every backend must do, as one test suite.

How to plug a backend in (the compose one is in test_compose_contract.py; the local one goes in
its own test module, e.g. tests/backends/test_local_contract.py):

    from contract import BackendContract, Scenario   # tests/backends/ is on sys.path (rootdir-less
                                                     # test dir, pytest's default import mode)

    class LocalHarness:                      # implements ContractHarness
        services = ["db", "api"]             # the stack the harness builds (≥ 2 services)
        wait_timeout = 10.0                  # enough for the healthy scenario
        short_timeout = 1.0                  # used for the never-healthy scenario
        log_marker = "marker-1234"           # the never-healthy service prints this to its log
        def backend(self, scenario: Scenario) -> Backend: ...   # fresh backend for the scenario
        def running_services(self) -> set[str]: ...             # ground truth: what really runs
        def data_exists(self) -> bool: ...                      # ground truth: is service data kept

    class TestLocalContract(BackendContract):
        @pytest.fixture
        def harness(self, tmp_path):
            h = LocalHarness(tmp_path)
            yield h
            h.cleanup()                       # kill whatever a failing test left behind

Scenarios a harness must be able to build: everything healthy (after a short start-up, so `up`
really has to wait); one named service never healthy; one named service crashing (exits)
shortly after start; and an environment whose preflight fails (missing binary / no engine).
`running_services` and `data_exists` must look at the world (processes, containers, data
dirs), not ask the backend under test.

`signal` *delivers* a signal (base.py): compose's pause/stop return once done, but a local
process handles it a moment later. Its effect must therefore show within SIGNAL_EFFECT_S, polled.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from typing import Protocol

import pytest

from stagectl.backends.base import Backend
from stagectl.errors import ExitCode, PreflightError, StagectlError, UnhealthyError


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What the harness should set up: a failing service, a crashing one, or a broken environment."""

    never_healthy: str | None = None
    crashes: str | None = None
    preflight_fails: bool = False


SIGNAL_EFFECT_S = 5.0  # bound for a delivered signal to show in status and in the world


def eventually(observe, accept, timeout: float = SIGNAL_EFFECT_S):
    """Poll `observe()` until `accept(value)`; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = observe()
        if accept(value):
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s; last seen: {value!r}"
        time.sleep(0.05)


class ContractHarness(Protocol):
    services: list[str]
    wait_timeout: float
    short_timeout: float
    log_marker: str

    def backend(self, scenario: Scenario) -> Backend: ...

    def running_services(self) -> set[str]: ...

    def data_exists(self) -> bool: ...


class BackendContract:
    """Subclass in a test module and provide a `harness` fixture (see the module docstring)."""

    @pytest.fixture
    def harness(self) -> ContractHarness:  # pragma: no cover - always overridden
        raise NotImplementedError("provide a harness fixture")

    @pytest.fixture
    def started(self, harness: ContractHarness) -> Backend:
        backend = harness.backend(Scenario())
        backend.preflight()
        backend.up(wait_timeout=harness.wait_timeout)
        yield backend
        backend.down(volumes=True)

    # -- preflight ------------------------------------------------------------------------------

    def test_preflight_failure_is_exit_4_with_hint(self, harness):
        backend = harness.backend(Scenario(preflight_fails=True))
        with pytest.raises(PreflightError) as info:
            backend.preflight()
        assert info.value.exit_code == ExitCode.PREFLIGHT
        assert info.value.hint, "a preflight error must tell the user what to do"
        assert harness.running_services() == set()

    def test_preflight_passes_in_a_working_environment(self, harness):
        assert isinstance(harness.backend(Scenario()).preflight(), dict)

    # -- up and the wait ------------------------------------------------------------------------

    def test_up_waits_for_health_and_returns_every_service(self, harness):
        backend = harness.backend(Scenario())
        backend.preflight()
        try:
            result = backend.up(wait_timeout=harness.wait_timeout)
            assert [s.name for s in result.services] == harness.services
            assert all(s.healthy and s.state == "healthy" for s in result.services), result.services
            assert all(s.ready_s is not None and 0 <= s.ready_s <= result.total_s for s in result.services)
            assert harness.running_services() == set(harness.services)
        finally:
            backend.down(volumes=True)

    def test_never_healthy_is_exit_3_names_the_service_and_tears_down(self, harness):
        victim = harness.services[0]
        backend = harness.backend(Scenario(never_healthy=victim))
        backend.preflight()
        began = time.monotonic()
        with pytest.raises(UnhealthyError) as info:
            backend.up(wait_timeout=harness.short_timeout)
        elapsed = time.monotonic() - began
        assert info.value.exit_code == ExitCode.UNHEALTHY
        assert victim in info.value.message, "the message names the root-cause service"
        assert elapsed >= harness.short_timeout, "gave up before the deadline"
        assert elapsed < harness.short_timeout + 5, "the wait is not bounded by its deadline"
        assert harness.running_services() == set()
        # last, so a missing log tail cannot hide a failed teardown or an unbounded wait
        assert harness.log_marker in info.value.message, "the root cause's last log lines are reported"

    def test_a_crash_fails_fast_and_tears_down(self, harness):
        victim = harness.services[-1]
        backend = harness.backend(Scenario(crashes=victim))
        backend.preflight()
        began = time.monotonic()
        with pytest.raises(UnhealthyError) as info:
            backend.up(wait_timeout=harness.wait_timeout)
        assert victim in info.value.message
        assert "exit" in info.value.message, "a crash is reported with its exit, not as a timeout"
        assert time.monotonic() - began < harness.wait_timeout / 2, "a crash must not wait for the deadline"
        assert harness.running_services() == set()

    # -- running stack --------------------------------------------------------------------------

    def test_status_lists_every_service(self, harness, started):
        rows = started.status()
        assert [r.name for r in rows] == harness.services
        assert all(r.healthy for r in rows), rows

    def test_status_before_up_lists_every_service_as_not_running(self, harness):
        rows = harness.backend(Scenario()).status()
        assert [r.name for r in rows] == harness.services
        assert not any(r.healthy for r in rows)

    def test_sigstop_pauses_and_start_restores(self, harness, started):
        victim = harness.services[0]
        started.signal(victim, signal.SIGSTOP)
        eventually(lambda: {r.name: r.state for r in started.status()}[victim], lambda state: state == "paused")
        restored = started.start(victim, wait_timeout=harness.wait_timeout)
        assert restored.name == victim and restored.healthy, f"start must bring a paused service back: {restored}"

    def test_sigterm_stops_and_start_restores(self, harness, started):
        victim = harness.services[-1]
        started.signal(victim, signal.SIGTERM)
        eventually(lambda: {r.name: r.healthy for r in started.status()}[victim], lambda healthy: not healthy)
        eventually(harness.running_services, lambda running: victim not in running)
        assert started.start(victim, wait_timeout=harness.wait_timeout).healthy
        assert all(r.healthy for r in started.status())

    def test_unknown_service_is_a_usage_error(self, harness, started):
        with pytest.raises(StagectlError) as info:
            started.signal("no-such-service", signal.SIGTERM)
        assert info.value.exit_code == ExitCode.USAGE

    def test_logs_honour_tail(self, harness, started):
        text = started.logs(harness.services[0], tail=2)
        assert isinstance(text, str) and len(text.splitlines()) <= 2

    # -- down -----------------------------------------------------------------------------------

    def test_down_is_idempotent(self, harness):
        backend = harness.backend(Scenario())
        backend.up(wait_timeout=harness.wait_timeout)
        first = backend.down()
        assert sorted(first.stopped) == sorted(harness.services) and first.leftovers == []
        second = backend.down()
        assert second.stopped == [] and second.leftovers == []
        assert harness.running_services() == set()
        backend.down(volumes=True)

    def test_down_keeps_data_unless_volumes(self, harness):
        backend = harness.backend(Scenario())
        backend.up(wait_timeout=harness.wait_timeout)
        assert harness.data_exists()
        assert backend.down().volumes_removed is False
        assert harness.data_exists(), "down without --volumes must keep data"
        backend.up(wait_timeout=harness.wait_timeout)
        assert backend.down(volumes=True).volumes_removed is True
        assert not harness.data_exists()
