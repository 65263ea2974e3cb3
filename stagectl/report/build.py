"""Building a Report: phases from backend results, and the whole report from a pipeline run.

`stagectl run` (stagectl/run.py) calls `up_phase(...)` / `teardown_phase(...)` in its up/down steps
and `report_from_pipeline(...)` in its final step (stagectl/report/step.py).
"""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Mapping, Sequence
from typing import Any

import stagectl
from stagectl.report.model import (
    STEP_TO_PHASE,
    BenchPhase,
    ChaosPhase,
    FuzzPhase,
    Phase,
    Phases,
    RenderCheckPhase,
    Report,
    ServiceUp,
    SmokePhase,
    SoakPhase,
    StepRecord,
    TeardownPhase,
    UpPhase,
    ValidatePhase,
)
from stagectl.results import CheckResult

_PHASE_TYPES: dict[str, type[Phase]] = {
    "render_check": RenderCheckPhase, "validate": ValidatePhase, "up": UpPhase, "smoke": SmokePhase,
    "fuzz": FuzzPhase, "chaos": ChaosPhase, "bench": BenchPhase, "soak": SoakPhase, "teardown": TeardownPhase,
}



def up_phase(up_result: Any, *, command: str = "stagectl up", started_at: dt.datetime | None = None) -> UpPhase:
    """An UpPhase from a backend `UpResult`: one check `up.<service>` per service (skips say why)."""
    services = []
    skipped = dict(up_result.skipped)
    for svc in up_result.services:
        if svc.state == "skipped" or svc.name in skipped:
            skipped.setdefault(svc.name, svc.detail or "skipped")
            continue
        ok = bool(svc.healthy)
        took = f" in {svc.ready_s:.3f} s" if svc.ready_s is not None else ""
        check = CheckResult(
            id=f"up.{svc.name}", section="up", status="pass" if ok else "fail",
            message=f"{svc.name} {svc.state}{took} (port {svc.port})",
            evidence=svc.detail or None,
            duration_ms=round((svc.ready_s or 0.0) * 1000, 3),
        )
        services.append(ServiceUp(name=svc.name, ready_s=svc.ready_s, state=svc.state, check=check))
    skip_checks = [
        CheckResult(id=f"up.{name}", section="up", status="skip", message=reason or "skipped")
        for name, reason in sorted(skipped.items())
    ]
    status = "passed" if services and all(s.check.status == "pass" for s in services) else "failed"
    return UpPhase(
        status=status, command=command, started_at=started_at, duration_s=up_result.total_s,
        services=services, skipped=skipped, total_s=up_result.total_s, checks=skip_checks,
    )


def teardown_phase(down_result: Any, *, command: str = "stagectl down", started_at: dt.datetime | None = None) -> TeardownPhase:
    """A TeardownPhase from a backend `DownResult`; any leftover fails it (exit 5)."""
    leftovers = list(down_result.leftovers)
    check = CheckResult(
        id="teardown.leftovers", section="teardown", status="fail" if leftovers else "pass",
        message=(f"could not stop: {', '.join(leftovers)}" if leftovers
                 else f"stopped {len(down_result.stopped)} services, {len(down_result.killed)} needed SIGKILL"),
        hint="see `stagectl status`; kill the listed processes by pid" if leftovers else None,
    )
    return TeardownPhase(
        status="failed" if leftovers else "passed", command=command, started_at=started_at,
        stopped=list(down_result.stopped), killed=list(down_result.killed), leftovers=leftovers,
        volumes_removed=bool(down_result.volumes_removed), checks=[check],
    )


def _phase_for(record: Any) -> Phase | None:
    """The record's phase result; for an aborted/skipped/failed step without one, a stub saying why."""
    phase_name = STEP_TO_PHASE.get(record.name)
    if phase_name is None:
        return None
    phase_type = _PHASE_TYPES[phase_name]
    result = record.result
    if isinstance(result, phase_type):
        if record.status in ("interrupted", "error") and result.status != record.status:
            return result.model_copy(update={"status": record.status, "reason": record.reason})
        return result
    status = record.status if record.status != "passed" else "error"
    reason = record.reason or ("no phase result was returned" if status == "error" else None)
    return phase_type(status=status, reason=reason, duration_s=record.duration_s or None)


def report_from_pipeline(
    records: Sequence[Any],
    *,
    run_id: str,
    project: str,
    backend: str,
    started_at: dt.datetime,
    finished_at: dt.datetime | None,
    exit_code: int,
    outcome: str,
    service_versions: Mapping[str, str] | None = None,
    config_overrides: Mapping[str, str] | None = None,
) -> Report:
    """A Report from the lifecycle engine's step records (pipeline.StepRecord or compatible).

    Steps named like a phase (render_check, validate, up, smoke, fuzz, chaos, bench, soak, teardown) fill that
    phase; every step, phase or not (preflight, report), is listed in `steps`.
    """
    phases = {STEP_TO_PHASE[r.name]: p for r in records if (p := _phase_for(r)) is not None}
    steps = [
        StepRecord(name=r.name, status=r.status, reason=r.reason, duration_s=round(r.duration_s, 6))
        for r in records
    ]
    return Report(
        run_id=run_id, project=project, backend=backend, started_at=started_at, finished_at=finished_at,
        outcome=outcome, exit_code=exit_code, stagectl_version=stagectl.__version__,
        python_version=platform.python_version(), service_versions=dict(service_versions or {}),
        config_overrides=dict(config_overrides or {}),
        steps=steps, phases=Phases(**phases),
    )
