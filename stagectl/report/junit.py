"""The JUnit view — the one JUnit writer (`validate --junit`, `smoke --junit`, the report's junit.xml).

For a report: one <testsuite> per phase (`stagectl.<phase>`). For CheckResults: one <testsuite> per suite name, one <testcase> per result (name = the result's stable id,
classname = suite.section), <failure>/<error>/<skipped> by status, and the message, location,
hint and evidence in <system-out>. Masking secrets is the caller's job; pass `masker` to have
every text field run through it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stagectl.results import CheckResult, Status

if TYPE_CHECKING:  # the report model is pydantic: `validate --junit` does not need it
    from stagectl.report.model import Report
    from stagectl.secrets import Masker

Suites = Mapping[str, Sequence[CheckResult]] | Iterable[tuple[str, Sequence[CheckResult]]]
# XML 1.0 forbids most control characters; log tails and probe transcripts can contain them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str | None, masker: Callable[[str], str] | None) -> str:
    text = "" if text is None else str(text)
    if masker is not None:
        text = masker(text)
    return _INVALID_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def _pairs(suites: Suites) -> list[tuple[str, Sequence[CheckResult]]]:
    return list(suites.items()) if isinstance(suites, Mapping) else list(suites)


def _counts(results: Sequence[CheckResult]) -> dict[str, str]:
    return {
        "tests": str(len(results)),
        "failures": str(sum(r.status == "fail" for r in results)),
        "errors": str(sum(r.status == "error" for r in results)),
        "skipped": str(sum(r.status == "skip" for r in results)),
        "time": f"{sum(r.duration_ms for r in results) / 1000:.3f}",
    }


def _timestamp(when: dt.datetime | None) -> str:
    """The JUnit schema's timestamp: ISO 8601 without a zone (so: UTC, said in the docs)."""
    when = when or dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def junit_xml(suites: Suites, *, masker: Callable[[str], str] | None = None, name: str = "stagectl",
              started: Mapping[str, dt.datetime | None] | None = None) -> str:
    """The JUnit XML document (UTF-8 text, with declaration) for `suites`. Every suite carries a
    `timestamp` (UTC; `started[suite]` when given, else now) and this machine's `hostname`."""
    pairs = _pairs(suites)
    host = socket.gethostname()
    # The common JUnit schema (Jenkins/Ant) allows `skipped` on <testsuite> but not on <testsuites>.
    totals = {k: v for k, v in _counts([r for _, rs in pairs for r in rs]).items() if k != "skipped"}
    root = ET.Element("testsuites", {"name": name, **totals})
    for suite_name, results in pairs:
        suite = ET.SubElement(root, "testsuite", {"name": _clean(suite_name, masker), **_counts(results),
                                                  "timestamp": _timestamp((started or {}).get(suite_name)),
                                                  "hostname": host})
        seen: dict[str, int] = {}
        for result in results:
            case_id = _clean(result.id, masker)
            seen[case_id] = seen.get(case_id, 0) + 1
            if seen[case_id] > 1:  # keep ids unique within a suite, in a stable (ordinal) way
                case_id = f"{case_id}#{seen[case_id]}"
            case = ET.SubElement(suite, "testcase", {
                "classname": _clean(f"{suite_name}.{result.section}" if result.section else suite_name, masker),
                "name": case_id,
                "time": f"{result.duration_ms / 1000:.3f}",
            })
            message = _clean(result.message, masker)
            if result.status == "fail":
                ET.SubElement(case, "failure", {"message": message, "type": "failure"}).text = _details(result, masker)
            elif result.status == "error":
                ET.SubElement(case, "error", {"message": message, "type": "error"}).text = _details(result, masker)
            elif result.status == "skip":
                ET.SubElement(case, "skipped", {"message": message})
            ET.SubElement(case, "system-out").text = _details(result, masker, evidence=True)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _details(result: CheckResult, masker: Callable[[str], str] | None, *, evidence: bool = False) -> str:
    lines = [f"{result.status}: {result.message}"]
    if result.location:
        lines.append(f"location: {result.location}")
    if result.hint:
        lines.append(f"hint: {result.hint}")
    if evidence and result.evidence:
        lines += ["evidence:", result.evidence]
    return _clean("\n".join(lines), masker)


def write_junit(path: Path | str, suites: Suites, *, masker: Callable[[str], str] | None = None) -> Path:
    """Write the JUnit XML atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = junit_xml(suites, masker=masker)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def phase_suites(report: Report) -> list[tuple[str, list[CheckResult]]]:
    """(suite name, checks) per phase that ran, in pipeline order. Suite names are `stagectl.<phase>`.

    A phase that was aborted, interrupted or errored without checks gets one synthetic result
    saying so, so CI shows the phase instead of silently dropping it.
    """
    suites = []
    for name, phase in report.phases.items():
        checks = phase.all_checks()
        if not checks and phase.status != "passed":
            status: Status = "skip" if phase.status in ("skipped", "aborted") else "error"
            checks = [CheckResult(id=f"{name}.phase", section=name, status=status,
                                  message=f"{name} {phase.status}: {phase.reason or 'no reason recorded'}")]
        suites.append((f"stagectl.{name}", checks))
    return suites


def render_junit(report: Report, masker: Masker | None = None) -> str:
    """The JUnit XML document for `report`, with every known secret masked."""
    from stagectl.report.store import mask_report

    started = {f"stagectl.{name}": phase.started_at or report.started_at for name, phase in report.phases.items()}
    return junit_xml(phase_suites(mask_report(report, masker)), name=f"stagectl run {report.run_id}", started=started)
