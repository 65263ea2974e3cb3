"""Unit tests of the wait engine with a fake clock (reliability table rows 1-5, 8, 39)."""

from __future__ import annotations

import pytest

from stagectl.config.model import Healthcheck
from stagectl.health.probes import ProbeResult
from stagectl.health.wait import Target, WaitEngine


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeProcess:
    def __init__(self, clock: FakeClock, exit_at: float | None = None, code: int = 1):
        self.clock, self.born, self.exit_at, self.code = clock, clock.now(), exit_at, code

    def exit_status(self):
        if self.exit_at is not None and self.clock.now() - self.born >= self.exit_at:
            return self.code
        return None


def healthy_after(clock: FakeClock, seconds: float, started: dict, name: str):
    def probe() -> ProbeResult:
        ok = clock.now() - started[name] >= seconds
        return ProbeResult(ok, "200" if ok else "connection refused")
    return probe


def make(clock, name, *, healthy_at=0.0, exit_at=None, code=1, deps=(), **check):
    started: dict[str, float] = {}

    def start():
        started[name] = clock.now()
        return FakeProcess(clock, exit_at, code)

    hc = Healthcheck(probe="tcp", **({"start_interval": 0.1} | check))
    probe = healthy_after(clock, healthy_at, started, name) if healthy_at is not None else (lambda: ProbeResult(False, "refused"))
    return Target(name, hc, probe, start, list(deps)), started


def test_all_healthy_reports_ready_times_in_dependency_order():
    clock = FakeClock()
    a, sa = make(clock, "a", healthy_at=0.5)
    b, sb = make(clock, "b", healthy_at=0.3, deps=["a"])
    out = WaitEngine([a, b], timeout=10, clock=clock).run()
    assert out.ok, out
    assert sb["b"] >= sa["a"] + 0.5  # b started only once a was healthy
    assert out.services["a"].ready_s == pytest.approx(0.5, abs=0.2)
    assert out.services["b"].ready_s == pytest.approx(0.8, abs=0.4)


def test_crash_fails_fast_with_exit_code_not_timeout():
    clock = FakeClock()
    a, _ = make(clock, "a", healthy_at=None, exit_at=0.4, code=-9, start_period=60)
    out = WaitEngine([a], timeout=30, clock=clock).run()
    assert not out.ok and out.reason == "crashed" and out.root_cause == "a"
    assert "signal 9" in out.services["a"].detail
    assert out.elapsed < 1.0


def test_dependents_of_failed_service_are_aborted_never_started():
    clock = FakeClock()
    a, _ = make(clock, "a", healthy_at=None, exit_at=0.0, code=1)
    b, sb = make(clock, "b", deps=["a"])
    out = WaitEngine([a, b], timeout=30, clock=clock).run()
    assert out.services["b"].phase == "aborted"
    assert "prerequisite a failed" in out.services["b"].detail
    assert "b" not in sb
    assert out.services["a"].detail == "crashed (exit 1)"


def test_never_healthy_times_out_at_deadline_with_last_probe():
    clock = FakeClock()
    a, _ = make(clock, "a", healthy_at=None, start_period=100)
    out = WaitEngine([a], timeout=2, clock=clock).run()
    assert not out.ok and out.reason == "timeout"
    assert out.elapsed == pytest.approx(2, abs=0.06)
    assert out.services["a"].last_probe == "refused"
    assert out.services["a"].phase == "waiting"


@pytest.mark.parametrize("start_period, expect_ok", [(3.0, True), (0.0, False)])
def test_failures_inside_start_period_are_not_counted(start_period, expect_ok):
    clock = FakeClock()
    a, _ = make(clock, "a", healthy_at=1.5, retries=1, start_period=start_period)
    out = WaitEngine([a], timeout=10, clock=clock).run()
    assert out.ok is expect_ok
    if not expect_ok:
        assert out.reason == "unhealthy"
        assert out.services["a"].detail.startswith("unhealthy: 1 consecutive failed probes")


def test_start_exception_is_a_start_failure():
    clock = FakeClock()

    def boom():
        raise OSError(2, "No such file or directory: 'nope'")

    t = Target("a", Healthcheck(probe="tcp"), lambda: ProbeResult(True, ""), boom)
    out = WaitEngine([t], timeout=5, clock=clock).run()
    assert out.reason == "start failed" and "No such file" in out.services["a"].detail


def test_interrupt_stops_waiting():
    clock = FakeClock()
    a, _ = make(clock, "a", healthy_at=None, start_period=100)
    out = WaitEngine([a], timeout=50, clock=clock, should_stop=lambda: clock.now() > 1001).run()
    assert out.reason == "interrupted" and out.elapsed < 1.2


def test_deadlines_never_use_wall_clock():
    import pathlib

    import stagectl.health.wait as wait

    assert "time.time(" not in pathlib.Path(wait.__file__).read_text()


def test_hanging_probe_does_not_delay_noticing_a_crash():  # row 4, with real threads and clock
    import concurrent.futures
    import time

    class Proc:
        def __init__(self, exit_after):
            self.born, self.exit_after = time.monotonic(), exit_after

        def exit_status(self):
            return 1 if self.exit_after is not None and time.monotonic() - self.born > self.exit_after else None

    def hanging_probe():
        time.sleep(1.5)  # a probe is bounded by its own timeout; here it is longer than the test budget
        return ProbeResult(False, "timed out")

    hc = Healthcheck(probe="http", start_period=60)
    hang = Target("hang", hc, hanging_probe, lambda: Proc(None))
    crash = Target("crash", hc, lambda: ProbeResult(False, "refused"), lambda: Proc(0.2))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        out = WaitEngine([hang, crash], timeout=10, executor=pool).run()
        elapsed = time.monotonic() - started
    assert out.root_cause == "crash" and out.reason == "crashed"
    assert elapsed < 1.0
