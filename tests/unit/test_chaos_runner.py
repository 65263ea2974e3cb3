"""The chaos run loop with a fake backend, a fake dashboard and a fake clock (no processes).

Faults caught: a scenario that passes while the dashboard shows another level/score than the
contract, a wrong level table that makes chaos wait out its whole timeout, a failed restore that
lets the run continue on a broken stack, Ctrl-C leaving a fault in place, a missing breaker-OPEN
assertion, the final health check trusting the dashboard alone, and a slow probe interval accepted."""

from __future__ import annotations

import signal

import pytest

from stagectl.backends.base import ServiceStatus
from stagectl.chaos import check_interval
from stagectl.chaos.faults import FaultTarget
from stagectl.chaos.runner import ChaosRunner, Timing, run_chaos
from stagectl.chaos.scenarios import LevelTable, Scenario, expect
from stagectl.errors import StagectlError
from stagectl.runners import FAULT_ROLES, service_for_role
from tests.unit.test_chaos_expectation import CONTRACT_ENV
from tests.unit.test_faults import FakeBackend, _stack

CONTRACT = LevelTable.from_env(CONTRACT_ENV)
CONTRACT_NAME = {service_for_role(_stack().services, role): role for role in FAULT_ROLES}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeDashboard:
    """Shows the level its own `table` gives for what the backend has broken, `lag` polls late."""

    def __init__(self, backend: FakeBackend, table: LevelTable, lag: int = 2, breaker_after: int = 3):
        self.backend, self.table, self.lag, self.breaker_after = backend, table, lag, breaker_after
        self.timeline: list[dict] = []
        self.scenario = ""
        self.polls_since_change = 0
        self.last_down: frozenset[str] = frozenset()
        self.llm_error = False
        self.enforced: list[dict] = []

    def new_identity(self) -> None:
        pass

    def broken(self) -> frozenset[str]:
        down = {CONTRACT_NAME[s] for s in self.backend.stopped | self.backend.frozen}
        return frozenset(down | ({"openai"} if self.llm_error else set()))

    def health(self) -> dict:
        now = self.broken()
        self.polls_since_change = 0 if now != self.last_down else self.polls_since_change + 1
        self.last_down = now
        shown = now if self.polls_since_change >= self.lag else frozenset()
        exp = expect(shown, self.table)
        open_ = "open" if "openai" in shown and self.polls_since_change >= self.lag + self.breaker_after else "closed"
        self.timeline.append({"t": 0, "level": exp.level, "score": exp.score, "scenario": self.scenario})
        return {"degradation_level": exp.level, "health_score": exp.score, "features": exp.features,
                "services": {s: {"status": "down" if s in shown else "up",
                                 "circuit_breaker": {"state": open_ if s == "openai" else "closed",
                                                     "failure_threshold": 5, "recovery_timeout_s": 30}}
                             for s in ("database", "openai", "redis", "s3")}}

    def check_enforcement(self, expected: dict) -> list[str]:
        self.enforced.append(expected)
        return []


class Backend(FakeBackend):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.frozen: set[str] = set()

    def signal(self, service: str, sig: int) -> None:
        super().signal(service, sig)
        if sig == signal.SIGSTOP:
            self.frozen.add(service)
        if sig == signal.SIGCONT:
            self.frozen.discard(service)


def make(dashboard_table: LevelTable = CONTRACT, **backend_kw):
    backend, clock = Backend(**backend_kw), Clock()
    dashboard = FakeDashboard(backend, dashboard_table)
    target = FaultTarget(backend, _stack(), {"S3_BUCKET_NAME": "b"}, wait_timeout=5)
    runner = ChaosRunner(target, dashboard, CONTRACT, Timing(interval=1.0, probe_timeout=1.0, recovery_checks=2),
                         clock=clock, sleep=clock.sleep)
    return runner, backend, dashboard, clock


@pytest.fixture(autouse=True)
def no_s3_init(monkeypatch):
    monkeypatch.setattr("stagectl.chaos.faults.reinit_s3", lambda target: None)


def test_a_faithful_dashboard_passes_and_every_fault_is_restored():
    runner, backend, dashboard, _ = make()
    run = run_chaos(runner, [Scenario("db+s3", (("database", "stop"), ("s3", "stop"))),
                             Scenario("frozen", (("redis", "freeze"),))])
    assert [r.status for r in run.scenarios] == ["pass", "pass"], [r.detail for r in run.scenarios]
    assert run.ok and run.final_healthy
    db_s3 = run.scenarios[0]
    assert (db_s3.observed_level, db_s3.observed_score, db_s3.restored) == ("MINIMAL", 45.0, True)
    assert db_s3.time_to_degrade_s is not None and db_s3.time_to_recover_s is not None
    assert not backend.stopped and not backend.frozen
    assert dashboard.enforced[0] == expect({"database", "s3"}, CONTRACT).features


def test_a_wrong_level_table_fails_without_waiting_out_the_timeout():
    wrong = LevelTable.from_env({**CONTRACT_ENV, "SERVICE_WEIGHTS": "database:20,openai:30,redis:45,s3:5"})
    runner, *_ , clock = make(dashboard_table=wrong)
    run = run_chaos(runner, [Scenario("redis", (("redis", "stop"),))])
    (result,) = run.scenarios
    assert result.status == "fail" and not run.ok
    assert (result.expected_level, result.observed_level, result.observed_score) == ("DEGRADED", "MINIMAL", 55.0)
    assert "expected DEGRADED" in result.detail
    assert clock.now < runner.timing.degrade_timeout - 2, "gave up once the down set settled"


def test_a_failed_restore_stops_the_run_and_fails_the_final_check():
    runner, backend, _, _ = make(fail_start=RuntimeError("cannot restart"))
    run = run_chaos(runner, [Scenario("db", (("database", "stop"),)), Scenario("s3", (("s3", "stop"),))])
    assert [r.status for r in run.scenarios] == ["fail", "skip"]
    assert not run.scenarios[0].restored and "cannot restart" in run.scenarios[0].detail
    assert "not run" in run.scenarios[1].detail
    assert not run.final_healthy and "postgres is exited" in run.final_detail


def test_ctrl_c_restores_the_current_fault_and_propagates():
    runner, backend, dashboard, _ = make()

    def interrupt(expected):
        raise KeyboardInterrupt

    dashboard.check_enforcement = interrupt
    with pytest.raises(KeyboardInterrupt):
        run_chaos(runner, [Scenario("frozen", (("redis", "freeze"),))])
    assert backend.calls[-1] == ("signal", "redis", signal.SIGCONT) and not backend.frozen


def test_breaker_open_is_asserted(monkeypatch):
    runner, _, dashboard, _ = make()
    monkeypatch.setattr("stagectl.chaos.faults.set_llm_mode", lambda t, mode: setattr(dashboard, "llm_error", mode == "error"))
    ok = run_chaos(runner, [Scenario("ai", (("openai", "error"),), hold_breaker_open="openai")]).scenarios[0]
    assert ok.status == "pass" and ok.breaker_opened and ok.breakers["openai"] == "open"
    runner, _, dashboard, _ = make()
    dashboard.breaker_after = 10_000  # a breaker that never opens
    monkeypatch.setattr("stagectl.chaos.faults.set_llm_mode", lambda t, mode: setattr(dashboard, "llm_error", mode == "error"))
    never = run_chaos(runner, [Scenario("ai", (("openai", "error"),), hold_breaker_open="openai")]).scenarios[0]
    assert never.status == "fail" and never.breaker_opened is False and "did not open" in never.detail


class IntervalDashboard:
    def __init__(self, interval):
        self.interval = interval

    def measure_interval(self, window_s):
        return self.interval if self.interval is not None and self.interval <= window_s else None


@pytest.mark.parametrize("interval", [10.0, None])
def test_a_slow_probe_interval_is_refused_with_exit_2(interval):
    with pytest.raises(StagectlError) as info:
        check_interval(IntervalDashboard(interval), {"HEALTH_CHECK_INTERVAL": "10"}, "matrix")
    assert info.value.exit_code == 2 and "HEALTH_CHECK_INTERVAL=1" in info.value.hint


def test_a_fast_interval_is_accepted():
    assert check_interval(IntervalDashboard(1.02), {"HEALTH_CHECK_TIMEOUT": "1"}, "matrix") == 1.02


def test_status_rows_are_checked_at_the_end():
    runner, backend, _, _ = make()
    backend.status = lambda: [ServiceStatus("redis", "unhealthy", False, 1, 1)]
    run = run_chaos(runner, [])
    assert not run.final_healthy and "redis is unhealthy" in run.final_detail


def test_when_one_of_several_injections_fails_the_others_are_restored():
    runner, backend, _, _ = make()
    original = backend.signal

    def signal_or_fail(service, sig):
        if service == "s3":
            raise RuntimeError("s3 cannot be signalled")
        original(service, sig)

    backend.signal = signal_or_fail
    run = run_chaos(runner, [Scenario("db+s3", (("database", "stop"), ("s3", "stop")))])
    (result,) = run.scenarios
    assert result.status == "fail" and "s3 cannot be signalled" in result.detail
    assert ("start", "postgres") in backend.calls and "postgres" not in backend.stopped
