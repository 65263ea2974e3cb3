"""The result of one check, smoke test, chaos scenario or bench target — the unit every report
counts. A skip always says why and is never counted as a pass."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal

Status = Literal["pass", "fail", "error", "skip"]
FAILED: tuple[Status, ...] = ("fail", "error")
# A skip whose reason starts with this is "not applicable" (e.g. a test that needs a service's
# port, run against a stack stagectl did not start): counted on its own, never as a pass or a skip.
NOT_APPLICABLE = "not applicable: "


@dataclasses.dataclass(frozen=True)
class CheckResult:
    id: str  # stable id, e.g. "compose.healthcheck.postgres"
    section: str  # e.g. "healthchecks"
    status: Status
    message: str  # what was found (for a skip: why it was skipped)
    location: str | None = None  # "file:line" where relevant
    hint: str | None = None  # how to fix a failure
    duration_ms: float = 0.0
    evidence: str | None = None  # probe transcript, log tail, measured numbers

    def __post_init__(self) -> None:
        if self.status == "skip" and not self.message:
            raise ValueError(f"{self.id}: a skip must say why")

    @property
    def failed(self) -> bool:
        """A failure or an error: what fails a phase (a skip never does, and never passes)."""
        return self.status in FAILED

    @property
    def not_applicable(self) -> bool:
        """A skip because the check cannot apply to this target (its reason says which access it needs)."""
        return self.status == "skip" and self.message.startswith(NOT_APPLICABLE)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def not_applicable(id: str, section: str, why: str) -> CheckResult:
    """The result of a check that does not apply to this target; `why` names what it would need."""
    return CheckResult(id, section, "skip", f"{NOT_APPLICABLE}{why}")


def summarize(results: Iterable[CheckResult]) -> dict[str, int]:
    """{"passed","failed","skipped","errors","not_applicable","total"} — the summary shape of every
    --json output. A not-applicable skip counts under "not_applicable" only, never under "skipped"."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "not_applicable": 0, "total": 0}
    key = {"pass": "passed", "fail": "failed", "skip": "skipped", "error": "errors"}
    for result in results:
        counts["not_applicable" if result.not_applicable else key[result.status]] += 1
        counts["total"] += 1
    return counts


def phase_status(results: Iterable[CheckResult]) -> Literal["passed", "failed"]:
    """A report phase's status from its checks: "failed" as soon as one check failed."""
    return "failed" if any(r.failed for r in results) else "passed"


def failure_summary(results: Iterable[CheckResult], shown: int = 3) -> str | None:
    """Which checks failed, for the step's line: a CI log then says what broke, not only that
    something did (the report has the rest)."""
    failed = [r for r in results if r.failed]
    if not failed:
        return None
    listed = "; ".join(f"{r.id}: {r.message[:200]}" for r in failed[:shown])
    more = f"; and {len(failed) - shown} more" if len(failed) > shown else ""
    return f"{len(failed)} failed — {listed}{more}"
