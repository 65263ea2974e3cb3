"""Chaos against a stack stagectl did not start (`stagectl chaos --url`): only what can be observed.

No fault can be injected there (stopping or freezing a service needs its backend), so every
scenario is reported not applicable, naming the faults it would need. What is checked is the
`baseline`, through the URL alone: with nothing broken the dashboard reports OPTIMAL with the
contract's score and no service down, and every feature's endpoint is enforced as available.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from stagectl.errors import PreflightError
from stagectl.results import NOT_APPLICABLE

if TYPE_CHECKING:
    from stagectl.chaos.runner import ChaosRun, ScenarioResult
    from stagectl.chaos.scenarios import Scenario
    from stagectl.config.loader import Project
    from stagectl.remote import RemoteTarget

BASELINE = "baseline"


def not_applicable_scenario(scenario: Scenario, table) -> ScenarioResult:
    """A scenario that needs a fault: reported, never run, never passed."""
    from stagectl.chaos.runner import ScenarioResult
    from stagectl.chaos.scenarios import expect

    exp = expect(scenario.down, table)
    faults = ", ".join(f"{fault} {service}" for service, fault in scenario.faults)
    return ScenarioResult(scenario.name, sorted(exp.down), dict(scenario.faults), exp.level, exp.score,
                          status="skip", detail=f"{NOT_APPLICABLE}remote target (needs a service-level fault: {faults})")


def observe_remote(project: Project, remote: RemoteTarget, scenarios: list[Scenario]) -> ChaosRun:
    """The baseline observed at `remote` (bounded wait for OPTIMAL, then the enforcement probes) and
    `scenarios` as not applicable. PreflightError (exit 4) when /health gives no full report."""
    from stagectl.chaos.probe import Dashboard
    from stagectl.chaos.runner import ChaosRun, ScenarioResult, Timing, _matches, _score, observed_down
    from stagectl.chaos.scenarios import LevelTable, expect

    table = LevelTable.from_env(project.env)
    optimal = expect(frozenset(), table)
    dashboard = Dashboard(remote.url, remote.api_key)
    started = time.monotonic()
    try:
        if dashboard.health() is None:
            raise PreflightError(f"{remote.url}/health gave no full report (HTTP {dashboard.last_status})",
                                 hint=f"is the key in {remote.key_source} the stack's DASHBOARD_API_KEY?")
        dashboard.scenario = BASELINE
        configured = float(project.env.get("HEALTH_CHECK_INTERVAL") or 10)
        timing = Timing.from_env(project.env, configured)  # a stack we did not start keeps its own interval
        deadline = started + timing.recover_timeout()
        health = dashboard.health()
        while not _matches(health, optimal) and time.monotonic() < deadline:
            time.sleep(timing.poll * 5)
            health = dashboard.health()
        result = ScenarioResult(BASELINE, [], {}, optimal.level, optimal.score,
                                observed_level=(health or {}).get("degradation_level"), observed_score=_score(health),
                                restored=True, time_to_recover_s=0.0)
        problems = []
        if not _matches(health, optimal):
            down = sorted(observed_down(health or {}))
            problems.append(f"not {optimal.level} ({optimal.score:g}) within {timing.recover_timeout():.0f}s; "
                            f"down: {', '.join(down) or 'none'}")
        else:
            dashboard.new_identity()
            problems += dashboard.check_enforcement(optimal.features)
        result.features_ok = not problems
        result.enforcement = problems
        result.status = "pass" if not problems else "fail"
        result.detail = "; ".join(problems)
        others = [not_applicable_scenario(s, table) for s in scenarios]
        return ChaosRun([result, *others], dashboard.timeline, timing.interval,
                        round(time.monotonic() - started, 3), not problems,
                        "" if not problems else f"baseline: {result.detail}")
    finally:
        dashboard.close()
