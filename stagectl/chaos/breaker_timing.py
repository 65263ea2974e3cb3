"""Breaker timing: for every breaker, when it goes half-open and closes again, against its
configured recovery timeout (docs/contract.md §3).

A breaker that waits a fixed time instead of its `*_CB_RECOVERY_TIMEOUT` passes every level check
(the levels come out right, only later or sooner); here it fails. Per service: break it until its
breaker is OPEN (observed on /health), restore it at once, then watch the breaker's state: it must
read `half_open` within TOLERANCE_S of the configured timeout after it opened, and `closed` within
`half_open_max_calls + 2` evaluation rounds after that.

Time: per breaker about threshold rounds to open + the recovery timeout + a few rounds. `stagectl
run` shortens the timeouts (RUN_RECOVERY_OVERRIDES) as it does the probe interval; a plain
`stagectl chaos` measures the configured ones.
"""

from __future__ import annotations

import dataclasses

from stagectl.results import CheckResult

# How far the observed half-open moment may be from the configured timeout: /health is polled
# every 0.1 s and each poll is an HTTP round trip; the OPEN moment is seen up to that late too.
TOLERANCE_S = 1.0
# The fault that opens each breaker: a stopped dependency, or the LLM stand-in answering errors.
OPENING_FAULT = {"database": "stop", "redis": "stop", "s3": "stop", "openai": "error"}
SERVICES = ("database", "openai", "redis", "s3")
PREFIX = {"database": "DB", "openai": "OPENAI", "redis": "REDIS", "s3": "S3"}
# a scrape and an evaluation at the chaos interval (1 s) and the chaos `for:`, with room to spare
ALERT_CLEAR_S = 10.0
RUN_RECOVERY_S = "5"
RUN_RECOVERY_OVERRIDES = {f"{p}_CB_RECOVERY_TIMEOUT": RUN_RECOVERY_S for p in PREFIX.values()}


@dataclasses.dataclass
class BreakerTiming:
    service: str
    configured_s: float
    half_open_after_s: float | None = None  # from OPEN seen to HALF_OPEN seen
    closed_after_s: float | None = None  # from the first trial (fault then restored) to CLOSED seen
    problems: list[str] = dataclasses.field(default_factory=list)
    # the matching Prometheus alert (chaos.alerts): the worst state seen while the breaker was not
    # closed, and how long after it closed the alert was inactive again; `alert_skip` says why not asked
    alert_seen: str | None = None
    alert_cleared_after_s: float | None = None
    alert_problems: list[str] = dataclasses.field(default_factory=list)
    alert_skip: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.half_open_after_s is not None and self.closed_after_s is not None

    @property
    def alert_ok(self) -> bool:
        return self.alert_check().status != "fail"

    def alert_check(self) -> CheckResult:
        from stagectl.chaos.alerts import ALERT_FOR_SERVICE

        cid, name = f"chaos.breaker-alert.{self.service}", ALERT_FOR_SERVICE[self.service]
        if self.alert_skip:
            return CheckResult(cid, "chaos", "skip", f"{name}: not observed ({self.alert_skip})")
        ok = not self.alert_problems and self.alert_seen in ("pending", "firing") and self.alert_cleared_after_s is not None
        message = f"{name}: {self.alert_seen} while the breaker was open, inactive {self.alert_cleared_after_s}s after it closed"
        if self.alert_problems:
            message += "; " + "; ".join(self.alert_problems)
        return CheckResult(cid, "chaos", "pass" if ok else "fail", message)

    def check(self) -> CheckResult:
        message = (f"configured recovery_timeout {self.configured_s:g}s; half-open after {self.half_open_after_s}s "
                   f"(±{TOLERANCE_S:g}s), closed {self.closed_after_s}s after the restore began")
        if self.problems:
            message += "; " + "; ".join(self.problems)
        return CheckResult(f"chaos.breaker-timing.{self.service}", "chaos", "pass" if self.ok else "fail", message,
                           evidence=f"half_open_after_s={self.half_open_after_s}\nclosed_after_s={self.closed_after_s}")


def _breaker(health: dict | None, service: str) -> dict:
    return (((health or {}).get("services") or {}).get(service) or {}).get("circuit_breaker") or {}


def measure_breaker(runner, service: str, configured_s: float, threshold: int, half_open_calls: int,
                    alerts=None, alert_skip: str | None = None) -> BreakerTiming:
    """One breaker's timing against a running stack (`runner`: a chaos.runner.ChaosRunner).

    The fault stays on until the first half-open trial: the trial then fails and re-opens the
    breaker, so the moment is seen either as `half_open` or as one more counted failure while OPEN
    (the dashboard's own probe may read the state first; polling every 0.1 s, it can only be first
    by that much). Then the fault is restored and the breaker must close within a bound."""
    from stagectl.chaos.faults import injected

    timing = BreakerTiming(service, configured_s,
                           alert_skip=(alert_skip or "no Prometheus watch given") if alerts is None else None)
    runner.dashboard.scenario = f"breaker-timing-{service}"
    rank = {"inactive": 0, "unknown": 0, "pending": 1, "firing": 2}

    def sample_alert() -> None:
        if alerts is not None:
            state = alerts.state(service)
            if rank[state] > rank.get(timing.alert_seen or "inactive", 0):
                timing.alert_seen = state
    # from a closed breaker only: one still open (or half-open) from an earlier fault would be
    # seen "open" at once and its trial would come early, by however long it had been open
    settle = configured_s + TOLERANCE_S + 5
    _, closed_before = runner._wait(lambda h: _breaker(h, service).get("state") == "closed", settle)
    if closed_before is None:
        timing.problems.append(f"not closed within {settle:g}s before the fault; nothing to time")
        return timing
    with injected(OPENING_FAULT[service], runner.target, service):
        health, seconds = runner._wait(lambda h: _breaker(h, service).get("state") == "open",
                                       runner.timing.breaker_timeout(threshold))
        if seconds is None:
            timing.problems.append(f"did not open within {runner.timing.breaker_timeout(threshold):.0f}s")
            return timing
        opened_at, failures = runner.clock(), _breaker(health, service).get("failure_count") or 0

        def trial_seen(h: dict | None) -> bool:
            sample_alert()
            b = _breaker(h, service)
            return b.get("state") == "half_open" or (b.get("state") == "open" and (b.get("failure_count") or 0) > failures)

        bound = configured_s + TOLERANCE_S + 1
        _, half = runner._wait(trial_seen, bound)
        if half is None:
            timing.problems.append(f"no half-open trial within {bound:g}s of opening")
            return timing
        timing.half_open_after_s = round(runner.clock() - opened_at, 3)
        restored_from = runner.clock()
    if abs(timing.half_open_after_s - configured_s) > TOLERANCE_S:
        timing.problems.append(f"half-open after {timing.half_open_after_s}s, configured {configured_s:g}s")
    # after the restore: the next trial comes at most one recovery timeout later, then
    # half_open_max_calls successful rounds close it
    restore_s = runner.clock() - restored_from
    close_bound = configured_s + (half_open_calls + 2) * runner.timing.round_s + 5

    def closed_now(h: dict | None) -> bool:
        sample_alert()
        return _breaker(h, service).get("state") == "closed"

    _, closed = runner._wait(closed_now, close_bound)
    if closed is None:
        timing.problems.append(f"not closed within {close_bound:g}s of the restore ({restore_s:.1f}s)")
        return timing
    closed_at = runner.clock()
    timing.closed_after_s = round(closed_at - restored_from, 3)
    if alerts is not None:
        if timing.alert_seen not in ("pending", "firing"):
            timing.alert_problems.append("never pending or firing while the breaker was open")
        bound = ALERT_CLEAR_S
        _, cleared = runner._wait(lambda h: alerts.state(service) == "inactive", bound)
        if cleared is None:
            timing.alert_problems.append(f"still {alerts.state(service)} {bound:g}s after the breaker closed")
        else:
            timing.alert_cleared_after_s = round(runner.clock() - closed_at, 3)
    return timing


def measure_all(runner, env, alerts=None, alert_skip: str | None = None) -> list[BreakerTiming]:
    """Every breaker in turn, with its configured values from `env` (the project's variables);
    with `alerts` (a chaos.alerts.AlertWatch in force) its Prometheus alert too."""
    out = []
    for service in SERVICES:
        p = PREFIX[service]
        out.append(measure_breaker(runner, service, float(env[f"{p}_CB_RECOVERY_TIMEOUT"]),
                                   int(env[f"{p}_CB_FAILURE_THRESHOLD"]), int(env[f"{p}_CB_HALF_OPEN_REQUESTS"]),
                                   alerts=alerts, alert_skip=alert_skip))
    return out
