"""The dashboard's own account of itself, read with the key before and after a load phase: the
degradation level, each breaker's state, and the failures each breaker counted (a Prometheus
counter, so a failure counted and forgotten in between is still seen)."""

from __future__ import annotations

import dataclasses

import httpx

from stagectl.loopback import fresh_loopback, source_headers


@dataclasses.dataclass(frozen=True)
class StackState:
    level: str
    breakers: dict[str, str]  # service → closed | open | half_open
    failures: dict[str, float]  # service → circuit_breaker_failures_total
    transitions: float  # sum of circuit_breaker_transitions_total


def read_state(base_url: str, api_key: str, timeout_s: float = 10.0) -> StackState:
    """GET /health and /metrics with the key (from a fresh loopback address). Raises
    httpx.HTTPError when either does not answer 200."""
    from prometheus_client.parser import text_string_to_metric_families

    source = fresh_loopback()
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key, **source_headers(source)}, timeout=timeout_s,
                      transport=transport) as client:
        health = client.get("/health")
        health.raise_for_status()
        metrics = client.get("/metrics")
        metrics.raise_for_status()
    report = health.json()
    failures: dict[str, float] = {}
    transitions = 0.0
    for family in text_string_to_metric_families(metrics.text):
        for sample in family.samples:
            if sample.name == "circuit_breaker_failures_total":
                failures[sample.labels.get("service", "")] = sample.value
            elif sample.name == "circuit_breaker_transitions_total":
                transitions += sample.value
    breakers = {name: svc["circuit_breaker"]["state"] for name, svc in report.get("services", {}).items()}
    return StackState(report.get("degradation_level", "unknown"), breakers, failures, transitions)


def state_problems(before: StackState, after: StackState) -> list[str]:
    """What the phase did to the stack: a level other than OPTIMAL, a breaker not closed, a failure
    counted or a breaker transition since `before`."""
    problems = []
    if after.level != "OPTIMAL":
        problems.append(f"level {after.level} afterwards (was {before.level})")
    opened = sorted(f"{name} {state}" for name, state in after.breakers.items() if state != "closed")
    if opened:
        problems.append("breaker not closed: " + ", ".join(opened))
    counted = {name: after.failures.get(name, 0.0) - before.failures.get(name, 0.0) for name in after.failures}
    counted = {name: n for name, n in counted.items() if n > 0}
    if counted:
        problems.append("breaker failures counted: " + ", ".join(f"{k} +{v:g}" for k, v in sorted(counted.items())))
    if after.transitions > before.transitions:
        problems.append(f"{after.transitions - before.transitions:g} breaker transitions")
    return problems
