"""The smoke phase: the live smoke suite (`checks/smoke/`, pytest) against the running stack.

Entry point: `smoke_phase()` (the report's SmokePhase, for `stagectl run`); `stagectl smoke`
uses the parts: `target` (where the suite points), `runner` (the pytest process and its results).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagectl.config.loader import Project
    from stagectl.report.model import SmokePhase
    from stagectl.smoke.runner import SmokeResult

SUITE = "stagectl.smoke"


def smoke_phase(project: Project, backend: str | None = None) -> SmokePhase:
    """The whole suite against the stack `backend` runs, as the report's smoke phase."""
    from stagectl.smoke.runner import run_smoke
    from stagectl.smoke.target import smoke_target

    started = dt.datetime.now(dt.timezone.utc)
    result = run_smoke(smoke_target(project, backend=backend))
    return phase_of(result, command="stagectl smoke", started_at=started)


def phase_of(result: SmokeResult, *, command: str, started_at: dt.datetime) -> SmokePhase:
    """The report's smoke phase of one suite run (`command` reruns it)."""
    from stagectl.report.model import SmokePhase
    from stagectl.results import failure_summary

    return SmokePhase(status="passed" if result.ok else "failed", reason=failure_summary(result.results),
                      command=command, started_at=started_at, duration_s=round(result.duration_s, 3),
                      checks=result.results)
