"""The JUnit view: one <testsuite> per phase, one <testcase> per CheckResult (stable ids), evidence
in <system-out>. The XML itself is written by the shared `stagectl.junit.junit_xml` (also used by
`stagectl validate --junit`), so there is one JUnit writer in the code base.
"""

from __future__ import annotations

from stagectl.junit import junit_xml
from stagectl.report.model import Report
from stagectl.report.store import mask_report
from stagectl.results import CheckResult
from stagectl.secrets import Masker


def phase_suites(report: Report) -> list[tuple[str, list[CheckResult]]]:
    """(suite name, checks) per phase that ran, in pipeline order. Suite names are `stagectl.<phase>`.

    A phase that was aborted, interrupted or errored without checks gets one synthetic result
    saying so, so CI shows the phase instead of silently dropping it.
    """
    suites = []
    for name, phase in report.phases.items():
        checks = phase.all_checks()
        if not checks and phase.status != "passed":
            status = "skip" if phase.status in ("skipped", "aborted") else "error"
            checks = [CheckResult(id=f"{name}.phase", section=name, status=status,
                                  message=f"{name} {phase.status}: {phase.reason or 'no reason recorded'}")]
        suites.append((f"stagectl.{name}", checks))
    return suites


def render_junit(report: Report, masker: Masker | None = None) -> str:
    """The JUnit XML document for `report`, with every known secret masked."""
    return junit_xml(phase_suites(mask_report(report, masker)), name=f"stagectl run {report.run_id}")
