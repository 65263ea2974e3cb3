"""A report.json from single commands (`stagectl smoke --report FILE`, `bench --report FILE`, …).

`stagectl run` writes its report in one go. Against a stack stagectl did not start there is no
run: each command records its phase in the same file, which `stagectl report FILE` renders. A file
of another target (or of a `run`) is never overwritten: the evidence it holds is kept.
"""

from __future__ import annotations

import datetime as dt
import platform
import uuid
from pathlib import Path

import stagectl
from stagectl.errors import ConfigError
from stagectl.report.model import PHASE_NAMES, Phase, Phases, Report, StepRecord
from stagectl.report.store import read_report, write_report
from stagectl.secrets import Masker

_FAILED = ("failed", "error", "aborted", "interrupted")


def record_phase(path: Path, name: str, phase: Phase, *, project: str, backend: str, target: str | None,
                 masker: Masker | None = None) -> Report:
    """Put `phase` (one of PHASE_NAMES) into the report at `path`, creating it or updating one of
    the same project and target; the outcome follows every phase it holds. ConfigError (exit 2)
    for a file of another project or target."""
    if name not in PHASE_NAMES:
        raise KeyError(name)
    now = dt.datetime.now(dt.timezone.utc)
    if path.exists():
        report = read_report(path)
        if (report.project, report.target, report.backend) != (project, target, backend):
            held = report.target or f"the {report.backend} stack of a run"
            raise ConfigError(f"{path} holds the report of project {report.project!r}, {held}; "
                              f"not adding {target or backend} to it",
                              hint="pass another --report file (or move that one away)")
    else:
        report = Report(run_id=uuid.uuid4().hex[:12], project=project, backend=backend, target=target,
                        started_at=phase.started_at or now, finished_at=None, outcome="PASSED", exit_code=0,
                        stagectl_version=stagectl.__version__, python_version=platform.python_version())
    if phase.duration_s is None and phase.started_at is not None:  # a command's phase: its wall time
        phase = phase.model_copy(update={"duration_s": round((now - phase.started_at).total_seconds(), 3)})
    phases = {n: p for n, p in report.phases.items()} | {name: phase}
    step = StepRecord(name=name, status=phase.status, reason=phase.reason, duration_s=phase.duration_s or 0.0)
    steps = [s for s in report.steps if s.name != name] + [step]
    failed = any(p.status in _FAILED for p in phases.values())
    updated = report.model_copy(update={
        "phases": Phases(**phases), "steps": steps, "finished_at": now,
        "outcome": "FAILED" if failed else "PASSED", "exit_code": 1 if failed else 0,
    })
    write_report(Report.model_validate(updated.model_dump(mode="json", by_alias=True)), path, masker)
    return updated
