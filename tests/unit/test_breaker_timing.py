"""chaos breaker timing against a simulated breaker (pure logic; the live version is in
tests/integration/test_smoke_live.py): the configured recovery timeout passes, a fixed one fails,
a trial the dashboard's own probe took first still counts, a breaker that never closes fails."""

from __future__ import annotations

import contextlib

import pytest

from stagectl.chaos import breaker_timing
from stagectl.chaos.runner import ChaosRunner, Timing


class Sim:
    """A redis breaker that opens at t=1 and goes half-open `actual` seconds later; after the
    restore its next trial closes it (unless `closes` is False)."""

    def __init__(self, actual: float, *, seen_as_half_open: bool = True, closes: bool = True):
        self.t, self.actual, self.seen_as_half_open, self.closes = 0.0, actual, seen_as_half_open, closes
        self.restored_at: float | None = None

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s

    def health(self) -> dict:
        t, opened = self.t, 1.0
        recovered = self.restored_at is not None and self.closes and t >= self.restored_at + 0.5
        if t < opened or recovered:
            state, failures = "closed", 0
        elif t < opened + self.actual:
            state, failures = "open", 3
        elif self.seen_as_half_open:
            state, failures = "half_open", 3
        else:  # the dashboard's probe took the trial first: it failed and re-opened the breaker
            state, failures = "open", 4
        return {"services": {"redis": {"circuit_breaker": {"state": state, "failure_count": failures}}}}


def _measure(monkeypatch, sim: Sim, configured: float = 5.0):
    @contextlib.contextmanager
    def injected(kind, target, service):
        yield
        sim.restored_at = sim.t

    monkeypatch.setattr("stagectl.chaos.faults.injected", injected)
    dashboard = type("D", (), {"health": lambda self: sim.health(), "scenario": ""})()
    runner = ChaosRunner(None, dashboard, None, Timing(1.0, 2.0, 2), clock=sim.clock, sleep=sim.sleep)
    return breaker_timing.measure_breaker(runner, "redis", configured, threshold=3, half_open_calls=2)


def test_configured_timeout_passes(monkeypatch):
    timing = _measure(monkeypatch, Sim(5.0))
    assert timing.ok and timing.half_open_after_s == pytest.approx(5.0, abs=0.2)
    assert timing.check().status == "pass" and timing.closed_after_s is not None


def test_fixed_timeout_fails_within_a_bound(monkeypatch):
    sim = Sim(30.0)
    timing = _measure(monkeypatch, sim)
    assert not timing.ok and "no half-open trial within 7s" in timing.problems[0]
    assert sim.t < 10, "the wait must end soon after the configured timeout, not at the fixed one"


def test_a_slightly_late_trial_fails_outside_the_tolerance(monkeypatch):
    timing = _measure(monkeypatch, Sim(6.5))
    assert not timing.ok and "half-open after" in timing.problems[0]


def test_a_trial_taken_by_the_dashboards_probe_counts(monkeypatch):
    timing = _measure(monkeypatch, Sim(5.0, seen_as_half_open=False))
    assert timing.ok and timing.half_open_after_s == pytest.approx(5.0, abs=0.2)


def test_a_breaker_that_never_closes_fails(monkeypatch):
    timing = _measure(monkeypatch, Sim(5.0, closes=False))
    assert not timing.ok and "not closed within" in timing.problems[0]


class Watch:
    """A Prometheus alert that follows the simulated breaker (pending while it is not closed), or
    never fires (`silent`: a rules file that did not load, a wrong expression), or never clears."""

    def __init__(self, sim: Sim, *, silent: bool = False, sticky: bool = False):
        self.sim, self.silent, self.sticky = sim, silent, sticky

    def state(self, service: str) -> str:
        open_now = self.sim.health()["services"][service]["circuit_breaker"]["state"] != "closed"
        if self.silent:
            return "inactive"
        return "pending" if open_now or self.sticky and self.sim.t > 1 else "inactive"


def _measure_with(monkeypatch, sim: Sim, watch: Watch):
    @contextlib.contextmanager
    def injected(kind, target, service):
        yield
        sim.restored_at = sim.t

    monkeypatch.setattr("stagectl.chaos.faults.injected", injected)
    dashboard = type("D", (), {"health": lambda self: sim.health(), "scenario": ""})()
    runner = ChaosRunner(None, dashboard, None, Timing(1.0, 2.0, 2), clock=sim.clock, sleep=sim.sleep)
    return breaker_timing.measure_breaker(runner, "redis", 5.0, threshold=3, half_open_calls=2, alerts=watch)


def test_alert_pending_while_open_and_cleared_passes(monkeypatch):
    sim = Sim(5.0)
    timing = _measure_with(monkeypatch, sim, Watch(sim))
    assert timing.alert_check().status == "pass" and timing.alert_seen == "pending"


def test_alert_that_never_fires_fails(monkeypatch):
    sim = Sim(5.0)
    timing = _measure_with(monkeypatch, sim, Watch(sim, silent=True))
    check = timing.alert_check()
    assert check.status == "fail" and "never pending or firing" in check.message and not timing.alert_ok


def test_alert_that_never_clears_fails(monkeypatch):
    sim = Sim(5.0)
    timing = _measure_with(monkeypatch, sim, Watch(sim, sticky=True))
    assert timing.alert_check().status == "fail" and "still pending" in timing.alert_check().message


def test_no_prometheus_is_a_reasoned_skip(monkeypatch):
    timing = _measure(monkeypatch, Sim(5.0))
    check = timing.alert_check()
    assert check.status == "skip" and "no Prometheus watch given" in check.message and timing.alert_ok
