"""The 15-section deployment checklist, where an item is ticked only when the report backs it.

Each item names its evidence: a phase plus id patterns (fnmatch, matched case-insensitively against
a CheckResult's `id` or `section`) and, for counted claims, a minimum number of matching checks.
An item is VERIFIED when at least `min_count` checks match and every one passed; FAILED when any
matching check failed or errored; otherwise NOT_VERIFIED (phase missing, nothing matched, only
skips). Items no tool can prove (training, sign-off) have no evidence and are always NOT_VERIFIED.
Patterns are deliberately broad so phases written by others match; a pattern that matches nothing
leaves the item unticked, never falsely ticked.
"""

from __future__ import annotations

import dataclasses
import re
from fnmatch import fnmatchcase
from typing import Literal

from stagectl.report.model import Report
from stagectl.results import CheckResult

ItemState = Literal["verified", "failed", "not_verified"]


@dataclasses.dataclass(frozen=True)
class Evidence:
    phase: str
    patterns: tuple[str, ...] = ("*",)
    min_count: int = 1


@dataclasses.dataclass(frozen=True)
class Item:
    text: str
    evidence: Evidence | None  # None: needs a person; stagectl cannot verify it


def _e(phase: str, *patterns: str, min_count: int = 1) -> Evidence:
    return Evidence(phase, patterns or ("*",), min_count)


MANUAL = None
SECTIONS: tuple[tuple[str, tuple[Item, ...]], ...] = (
    ("Pre-Deployment Verification", (
        Item("Deployment files equal a fresh render of the templates (no drift, no hand edits)", _e("render_check")),
        Item("Static validation: 80+ checks, all passing", _e("validate", min_count=80)),
        Item("Every variable of the env interface is read by something", _e("validate", "*unread*", "*unused*", "*read_by*")),
        Item("Secrets: secret variables marked, guarded, never committed", _e("validate", "*secret*")),
        Item("Circuit breaker settings match the contract", _e("validate", "breakers.*")),
        Item("Health weights and degradation thresholds match the contract", _e("validate", "degradation.*")),
    )),
    ("Infrastructure Setup", (
        Item("Compose file uses only Compose-spec keys", _e("validate", "compose.*keys*", "*compose*schema*")),
        Item("A healthcheck is defined for every service", _e("validate", "healthchecks.*")),
        Item("Ports: loopback-bound, unique, in range", _e("validate", "ports.*")),
        Item("Volumes declared and persistent", _e("validate", "volumes.*")),
        Item("Network isolation configured", _e("validate", "network.*")),
        Item("Every service came up and reported healthy", _e("up", "up.*")),
    )),
    ("Database Setup", (
        Item("PostgreSQL running and healthy", _e("up", "up.postgres")),
        Item("Database reachable through the API", _e("smoke", "*database*", "*postgres*")),
        Item("API degrades gracefully when the database goes down", _e("chaos", "*database*")),
    )),
    ("Redis Setup", (
        Item("Redis running and healthy", _e("up", "up.redis")),
        Item("Cache and sessions work through the API", _e("smoke", "*redis*", "*cache*", "*session*")),
        Item("API degrades gracefully when Redis goes down", _e("chaos", "*redis*")),
    )),
    ("S3/Object Storage Setup", (
        Item("S3 stand-in running and healthy", _e("up", "up.s3")),
        Item("Bucket present; uploads and downloads work through the API", _e("smoke", "*s3*", "*file*", "*bucket*")),
        Item("API degrades gracefully when S3 goes down", _e("chaos", "*s3*")),
    )),
    ("Metrics & Monitoring", (
        Item("Prometheus running and healthy", _e("up", "up.prometheus")),
        Item("Prometheus configuration present and valid", _e("validate", "*prometheus*", "*promtool*")),
        Item("Dashboard /metrics exposes the contract's metrics", _e("smoke", "*metrics*")),
        Item("Grafana running and healthy", _e("up", "up.grafana")),
    )),
    ("Security Configuration", (
        Item("API key required; missing and wrong keys rejected", _e("smoke", "*auth*", "*api_key*", "*api-key*")),
        Item("Security headers on every response (HSTS, CSP, nosniff, DENY)", _e("smoke", "*header*")),
        Item("Rate limiting enforced", _e("smoke", "*rate*limit*", "*ratelimit*")),
        Item("Secrets management: no secret values in files or output", _e("validate", "*secret*")),
    )),
    ("Logging & Observability", (
        Item("Structured JSON logs, one object per line", _e("smoke", "*log*")),
        Item("Request ids echoed or generated", _e("smoke", "*request*id*")),
    )),
    ("Deployment Process", (
        Item("Stack deployed with `stagectl up` and all services healthy", _e("up")),
        Item("Teardown stopped everything it started", _e("teardown")),
    )),
    ("Smoke Testing", (
        Item("Automated smoke tests: all passing", _e("smoke")),
        Item("Performance benchmarks against the targets", _e("bench")),
        Item("Failure-mode (chaos) scenarios", _e("chaos")),
    )),
    ("Monitoring & Alerting", (
        Item("Alert rule files present and valid", _e("validate", "*alert*", "*promtool*")),
        Item("Alert rules unit-tested with promtool", _e("validate", "*promtool*test*", "alerts.*test*")),
        Item("Grafana datasource and dashboards provisioned", _e("validate", "*grafana*")),
    )),
    ("Documentation & Runbooks", (
        Item("Runbook reviewed by the on-call team", MANUAL),
        Item("Team trained on degradation levels and rollback", MANUAL),
    )),
    ("Go-Live Preparation", (
        Item("Production deployment plan approved", MANUAL),
        Item("Rollback plan rehearsed", MANUAL),
        Item("Clean teardown (the rollback path) exercised in staging", _e("teardown")),
    )),
    ("Sign-Off & Approval", (
        Item("Testing sign-off", MANUAL),
        Item("Deployment authorization", MANUAL),
        Item("Post-deployment validation", MANUAL),
    )),
    ("Metrics & Success Criteria", (
        Item("Health check p95 < 100 ms", _e("bench", "*health*")),
        Item("API response p95 < 500 ms", _e("bench", "*api*", "*inventory*")),
        Item("Degradation levels match the contract under each fault", _e("chaos")),
        Item("Feature availability matches the matrix", _e("smoke", "*feature*")),
    )),
)


@dataclasses.dataclass(frozen=True)
class ItemResult:
    number: str  # "3.2"
    text: str
    state: ItemState
    manual: bool
    note: str  # why it is (not) verified, in one line
    checks: tuple[CheckResult, ...]  # the evidence, in report order
    phase: str | None = None  # where the evidence lives (for anchors)

    @property
    def anchors(self) -> list[tuple[str, CheckResult]]:
        return [(anchor(self.phase, c.id), c) for c in self.checks] if self.phase else []


def anchor(phase: str, check_id: str) -> str:
    """The HTML anchor of a check's evidence (stable: derived from the phase and check id only)."""
    return f"ev-{phase}-" + re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _matches(check: CheckResult, patterns: tuple[str, ...]) -> bool:
    keys = (check.id.lower(), check.section.lower())
    return any(fnmatchcase(k, p.lower()) for k in keys for p in patterns)


def evaluate_item(report: Report, item: Item, number: str) -> ItemResult:
    """Decide one checklist item from the report's checks."""
    if item.evidence is None:
        return ItemResult(number, item.text, "not_verified", True, "needs a person: not verifiable by stagectl", ())
    ev = item.evidence
    phase = report.phases.get(ev.phase)
    if phase is None:
        return ItemResult(number, item.text, "not_verified", False, f"{ev.phase} did not run", (), ev.phase)
    matched = tuple(c for c in phase.all_checks() if _matches(c, ev.patterns))
    decisive = [c for c in matched if c.status != "skip"]
    bad = [c for c in decisive if c.failed]
    if bad:
        return ItemResult(number, item.text, "failed", False, f"{len(bad)} of {len(decisive)} checks failed", matched, ev.phase)
    if ev.patterns == ("*",) and phase.status != "passed":
        # A claim about the whole phase needs the whole phase: partial passes of an interrupted run are not it.
        return ItemResult(number, item.text, "not_verified", False, f"{ev.phase} {phase.status}: {phase.reason or ''}".strip(), matched, ev.phase)
    if len(decisive) < ev.min_count:
        if decisive:
            why = f"{_n(len(decisive), 'passing check')}, {ev.min_count} needed"
        elif matched:
            why = f"skipped: {matched[0].message}"
        else:
            why = "no matching check in the report"
        return ItemResult(number, item.text, "not_verified", False, why, matched, ev.phase)
    return ItemResult(number, item.text, "verified", False, f"{_n(len(decisive), 'check')} passed", matched, ev.phase)


def evaluate(report: Report) -> list[tuple[str, list[ItemResult]]]:
    """Every section with its evaluated items, in the checklist's order."""
    return [
        (title, [evaluate_item(report, item, f"{s}.{i}") for i, item in enumerate(items, 1)])
        for s, (title, items) in enumerate(SECTIONS, 1)
    ]
