"""The chaos run loop: inject a scenario's faults, watch /health until the expected level (or a
bounded timeout), compare features, probe enforcement, restore (always), watch the recovery.

Times count from the action: time_to_degrade_s from the start of the injection, time_to_recover_s
from the start of the restore (a restart's own wait included). A scenario that does not recover
stops the run: the next ones would measure a broken stack (they are reported as skipped, saying why).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import time
from collections.abc import Mapping

from stagectl import progress
from stagectl.chaos.scenarios import SERVICES, Expectation, LevelTable, Scenario, expect


@dataclasses.dataclass
class ScenarioResult:
    """One scenario's outcome (the --json row)."""

    name: str
    down: list[str]
    faults: dict[str, str]
    expected_level: str
    expected_score: float
    observed_level: str | None = None
    observed_score: float | None = None
    features_ok: bool = False
    feature_mismatches: dict[str, dict[str, bool | None]] = dataclasses.field(default_factory=dict)
    enforcement: list[str] = dataclasses.field(default_factory=list)
    breakers: dict[str, str | None] = dataclasses.field(default_factory=dict)
    breaker_opened: bool | None = None
    time_to_degrade_s: float | None = None
    time_to_recover_s: float | None = None
    restored: bool = False
    status: str = "fail"  # pass | fail | skip
    detail: str = ""
    duration_s: float = 0.0  # wall time of the scenario: inject, observe, restore, recover

    @property
    def not_applicable(self) -> bool:
        """Not run: it needs a fault this target cannot take (a stack stagectl did not start)."""
        from stagectl.results import NOT_APPLICABLE

        return self.status == "skip" and self.detail.startswith(NOT_APPLICABLE)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Timing:
    """Bounds of every wait, derived from the live probe interval and the project env."""

    interval: float
    probe_timeout: float
    recovery_checks: int
    poll: float = 0.1

    @classmethod
    def from_env(cls, env: Mapping[str, str], interval: float) -> Timing:
        return cls(interval, float(env.get("HEALTH_CHECK_TIMEOUT") or 3),
                   int(env.get("DEGRADATION_RECOVERY_CHECKS") or 2))

    @property
    def round_s(self) -> float:  # one evaluation: probes (at most their timeout) + the pause
        return self.interval + self.probe_timeout

    @property
    def degrade_timeout(self) -> float:
        return 2 * self.round_s + 5

    def breaker_timeout(self, threshold: int) -> float:
        return (threshold + 1) * self.round_s + 5

    def recover_timeout(self, breaker_recovery_s: float = 0.0) -> float:
        return breaker_recovery_s + (self.recovery_checks + 2) * self.round_s + 10


def observed_down(health: dict) -> frozenset[str]:
    return frozenset(n for n, s in (health.get("services") or {}).items() if s.get("status") == "down")


def _score(health: dict | None) -> float | None:
    value = (health or {}).get("health_score")
    return float(value) if isinstance(value, (int, float)) else None


def _matches(health: dict | None, exp: Expectation) -> bool:
    score = _score(health)
    return health is not None and bool(health) and health.get("degradation_level") == exp.level \
        and score is not None and abs(score - exp.score) < 1e-6 and observed_down(health) == exp.down


class ChaosRunner:
    """Runs scenarios against a running stack: inject, observe, check, restore, observe recovery."""

    def __init__(self, target, dashboard, table: LevelTable, timing: Timing,
                 clock=None, sleep=None):
        self.target, self.dashboard, self.table, self.timing = target, dashboard, table, timing
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep

    def _wait(self, done, timeout: float, give_up=None) -> tuple[dict | None, float | None]:
        """Poll /health until `done(health)`; (last health, seconds) — seconds None on timeout."""
        start = self.clock()
        health = None
        while self.clock() - start < timeout:
            health = self.dashboard.health()
            if done(health):
                return health, round(self.clock() - start, 3)
            if give_up and give_up(health):
                break
            self.sleep(self.timing.poll)
        return health, None

    def _wrong_level_settled(self, exp: Expectation):
        """True once the right services have been down for two rounds but the level is still wrong:
        worsening applies at once, so waiting longer cannot help (a wrong level table)."""
        since: list[float] = []

        def check(health: dict | None) -> bool:
            if not health or observed_down(health) != exp.down:
                since.clear()
                return False
            if not since:
                since.append(self.clock())
            return self.clock() - since[0] > 2 * self.timing.interval + 1

        return check

    def run_one(self, scenario: Scenario) -> ScenarioResult:
        from stagectl.chaos.faults import injected

        exp = expect(scenario.down, self.table)
        result = ScenarioResult(scenario.name, sorted(exp.down), dict(scenario.faults), exp.level, exp.score)
        self.dashboard.scenario = scenario.name
        self.dashboard.new_identity()
        problems: list[str] = []
        injected_at = restore_at = self.clock()  # both times count from the action, not its end
        try:
            with contextlib.ExitStack() as faults:
                # restores unwind last-in-first-out: the database goes last so it comes back first (the
                # dashboard's connection pool backs off between reconnects; the sooner it can succeed…)
                ordered = sorted(scenario.faults, key=lambda item: item[0] == "database")
                enter_all(faults, [injected(fault, self.target, service) for service, fault in ordered])
                health, seconds = self._wait(
                    lambda h: _matches(h, exp), self.timing.degrade_timeout, self._wrong_level_settled(exp))
                if seconds is not None:
                    result.time_to_degrade_s = round(self.clock() - injected_at, 3)
                else:
                    problems.append(f"expected {exp.level} ({exp.score:g}) with {'+'.join(sorted(exp.down)) or 'nothing'}"
                                    f" down; saw {(health or {}).get('degradation_level')} ({_score(health)}) with "
                                    f"{'+'.join(sorted(observed_down(health or {}))) or 'nothing'} down")
                if scenario.hold_breaker_open:
                    health = self._hold_until_open(scenario.hold_breaker_open, health, result)
                self._record(health, exp, result)
                result.enforcement += self.dashboard.check_enforcement(exp.features)
                # a breaker of a down service may still open while it restarts: allow for its wait
                recovery = _breaker_recovery(health or {}, exp.down)
                restore_at = self.clock()
            result.restored = True
        except Exception as exc:  # a fault or its restore failed: reported, the run goes on or stops
            problems.append(f"{type(exc).__name__}: {exc}")
        if result.restored:
            _, seconds = self._wait(lambda h: _matches(h, expect(frozenset(), self.table)),
                                    self.timing.recover_timeout(recovery))
            if seconds is None:
                problems.append("did not recover to OPTIMAL in time")
            else:
                result.time_to_recover_s = round(self.clock() - restore_at, 3)
        ok = (result.time_to_degrade_s is not None and result.observed_level == exp.level
              and result.observed_score == exp.score and result.features_ok
              and not result.enforcement and result.restored and result.time_to_recover_s is not None
              and result.breaker_opened is not False)
        result.status = "pass" if ok and not problems else "fail"
        result.detail = "; ".join(problems + result.enforcement)
        return result

    def _hold_until_open(self, service: str, health: dict | None, result: ScenarioResult) -> dict | None:
        threshold = int((((health or {}).get("services") or {}).get(service, {}).get("circuit_breaker") or {})
                        .get("failure_threshold") or 5)
        health, seconds = self._wait(lambda h: _breaker(h, service) == "open",
                                     self.timing.breaker_timeout(threshold))
        result.breaker_opened = seconds is not None
        if seconds is None:
            result.enforcement.append(f"{service} breaker did not open within {self.timing.breaker_timeout(threshold):.0f}s")
        return health

    def _record(self, health: dict | None, exp: Expectation, result: ScenarioResult) -> None:
        if not health:
            return
        result.observed_level = health.get("degradation_level")
        result.observed_score = _score(health)
        observed = health.get("features") or {}
        result.feature_mismatches = {name: {"expected": want, "observed": observed.get(name)}
                                     for name, want in exp.features.items() if observed.get(name) != want}
        result.features_ok = not result.feature_mismatches and set(observed) == set(exp.features)
        result.breakers = {name: _breaker(health, name) for name in SERVICES}


def enter_all(stack: contextlib.ExitStack, contexts: list) -> None:
    """Enter the fault contexts at the same time (one outage, not a staircase of them, so breakers
    count fewer failures), registering each entered one on `stack` so its restore always runs.
    Restores stay sequential (the stack unwinds in order): a backend may serve one restart at a time."""
    if len(contexts) <= 1:
        for cm in contexts:
            stack.enter_context(cm)
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(contexts))
    futures = [pool.submit(cm.__enter__) for cm in contexts]
    try:
        concurrent.futures.wait(futures)
    finally:  # also on Ctrl-C: wait for the injections in flight, then register what took effect
        pool.shutdown(wait=True)
        errors: list[BaseException] = []
        for cm, future in zip(contexts, futures):
            error = future.exception()
            if error is None:
                stack.push(cm.__exit__)
            else:
                errors.append(error)
    if errors:
        raise errors[0]


def _breaker(health: dict | None, service: str) -> str | None:
    return ((((health or {}).get("services") or {}).get(service) or {}).get("circuit_breaker") or {}).get("state")


def _breaker_recovery(health: dict, services) -> float:
    """Longest wait before a half-open trial among the breakers of `services` (0 when unknown)."""
    waits = [float(((health.get("services") or {}).get(name) or {}).get("circuit_breaker", {})
                   .get("recovery_timeout_s") or 0) for name in services]
    return max(waits, default=0.0)


@dataclasses.dataclass
class ChaosRun:
    """Everything `stagectl chaos --json` prints."""

    scenarios: list[ScenarioResult]
    timeline: list[dict]
    interval_s: float
    wall_s: float
    final_healthy: bool
    final_detail: str = ""
    breakers: list = dataclasses.field(default_factory=list)  # chaos.breaker_timing.BreakerTiming
    final_s: float = 0.0  # the final health wait

    @property
    def ok(self) -> bool:
        applicable = [r for r in self.scenarios if not r.not_applicable]
        return (self.final_healthy and all(r.status == "pass" for r in applicable)
                and all(b.ok and b.alert_ok for b in self.breakers))

    def to_dict(self) -> dict:
        counts = {s: sum(r.status == s and not r.not_applicable for r in self.scenarios) for s in ("pass", "fail", "skip")}
        return {"scenarios": [r.to_dict() for r in self.scenarios],
                "summary": {"passed": counts["pass"], "failed": counts["fail"], "skipped": counts["skip"],
                            "not_applicable": sum(r.not_applicable for r in self.scenarios),
                            "total": len(self.scenarios), "ok": self.ok, "wall_s": self.wall_s,
                            "health_check_interval_s": self.interval_s, "final_healthy": self.final_healthy,
                            "final_detail": self.final_detail},
                "breaker_timing": [dataclasses.asdict(b) for b in self.breakers],
                "timeline": self.timeline}

    def check_results(self) -> list:
        """The scenarios as shared CheckResults (section "chaos") for reports."""
        from stagectl.results import CheckResult

        out = [CheckResult(f"chaos.{r.name}", "chaos", "skip", r.detail) if r.not_applicable else
               CheckResult(f"chaos.{r.name}", "chaos", r.status,  # type: ignore[arg-type]
                           f"down={'+'.join(r.down) or 'none'}: expected {r.expected_level} ({r.expected_score:g}), "
                           f"observed {r.observed_level} ({r.observed_score}); degrade {r.time_to_degrade_s}s, "
                           f"recover {r.time_to_recover_s}s" + (f"; {r.detail}" if r.detail else ""),
                           evidence=None if r.features_ok else str(r.feature_mismatches),
                           duration_ms=round(r.duration_s * 1000, 3))
               for r in self.scenarios]
        out += [c for b in self.breakers for c in (b.check(), b.alert_check())]
        out.append(CheckResult("chaos.final-health", "chaos", "pass" if self.final_healthy else "fail",
                               self.final_detail or "stack healthy and OPTIMAL after the run",
                               duration_ms=round(self.final_s * 1000, 3)))
        return out


def run_chaos(runner: ChaosRunner, scenarios: list[Scenario]) -> ChaosRun:
    """Run `scenarios` in order (the stack must be OPTIMAL first); stop early when one does not recover.
    Ctrl-C restores the current fault (faults.injected) and propagates."""
    start = runner.clock()
    results: list[ScenarioResult] = []
    stopped_by = ""
    for index, scenario in enumerate(scenarios):
        progress.step("chaos", index, len(scenarios), scenario.name)
        if stopped_by:
            exp = expect(scenario.down, runner.table)
            results.append(ScenarioResult(scenario.name, sorted(exp.down), dict(scenario.faults), exp.level,
                                          exp.score, status="skip", detail=f"not run: {stopped_by}"))
            continue
        began = runner.clock()
        result = runner.run_one(scenario)
        result.duration_s = round(runner.clock() - began, 3)
        results.append(result)
        if not result.restored or result.time_to_recover_s is None:
            stopped_by = f"the stack did not recover after {scenario.name}"
    progress.step("chaos", len(scenarios), len(scenarios), "final health")
    runner.dashboard.scenario = "final"
    began = runner.clock()
    healthy, detail = final_health(runner)
    return ChaosRun(results, runner.dashboard.timeline, runner.timing.interval,
                    round(runner.clock() - start, 3), healthy, detail, final_s=round(runner.clock() - began, 3))


def final_health(runner: ChaosRunner) -> tuple[bool, str]:
    """Is the stack whole again: every service healthy (backend) and the dashboard OPTIMAL?"""
    optimal = expect(frozenset(), runner.table)
    health, seconds = runner._wait(lambda h: _matches(h, optimal), runner.timing.recover_timeout(
        _breaker_recovery(runner.dashboard.health() or {}, SERVICES)))
    problems = []
    if seconds is None:
        problems.append(f"dashboard level {(health or {}).get('degradation_level')} (score "
                        f"{(health or {}).get('health_score')}), expected OPTIMAL")
    for row in _backend_settled(runner):
        if row.state != "skipped" and not row.healthy:
            problems.append(f"{row.name} is {row.state}")
    return not problems, "; ".join(problems)


def _backend_settled(runner: ChaosRunner) -> list:
    """The backend's statuses once every service is healthy, or after one health-check round
    (interval + timeout of the slowest check): a container engine's health lags its checks, so a
    container unpaused a moment ago still reads "unhealthy" until its next check passes."""
    services = runner.target.stack.services.values()
    bound = max((s.healthcheck.interval + s.healthcheck.timeout for s in services), default=0.0) + 1.0
    deadline = runner.clock() + bound
    while True:
        rows = runner.target.backend.status()
        if all(r.healthy or r.state == "skipped" for r in rows) or runner.clock() >= deadline:
            return rows
        runner.sleep(0.5)
