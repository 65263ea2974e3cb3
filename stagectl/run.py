"""`stagectl run`: the whole pipeline for CI, composed from the phases.

render --check → validate → preflight → up → smoke → fuzz → chaos → bench → soak → down → report, on the
lifecycle engine (stagectl/pipeline.py): a failed step aborts the rest, `down` and `report` always
run, two-stage Ctrl-C, and the exit code of docs/exit-codes.md. Each step calls one phase's entry
point, which returns the report's phase; nothing is mapped here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagectl import context
from stagectl.errors import ConfigError, ExitCode
from stagectl.pipeline import TEARDOWN_MODES, Pipeline, PipelineResult, Step

if TYPE_CHECKING:
    from stagectl.backends.base import Backend
    from stagectl.config.loader import Project
    from stagectl.report.model import (
        BenchPhase,
        ChaosPhase,
        FuzzPhase,
        RenderCheckPhase,
        SmokePhase,
        SoakPhase,
        TeardownPhase,
        UpPhase,
        ValidatePhase,
    )


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What `stagectl run` was asked to do (its command-line options)."""

    backend: str | None = None
    chaos: str = "quick"
    teardown: str = "always"
    wait_timeout: float = 120.0
    bench_seconds: float = 5.0
    fuzz_seconds: float = 45.0  # the fuzz phase's time limit (0: no fuzz)
    fuzz_examples: int = 15
    soak_seconds: float = 60.0  # 0: no soak
    out: Path = Path("reports")
    volumes: bool = False


@dataclasses.dataclass(frozen=True)
class Passed:
    """The result of a step that is not a report phase (preflight): it raised, or it passed."""

    status: str = "passed"
    reason: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class RunSteps:
    """The pipeline's steps, sharing the project and the backend."""

    def __init__(self, options: RunOptions, stack_overrides: Mapping[str, str]):
        self.options = options
        self.stack_overrides = dict(stack_overrides)
        self._backend: Backend | None = None
        self.versions: dict[str, str] = {}  # measured while the stack is up; the report comes after down

    @property
    def project(self) -> Project:
        """The project as configured: what render --check and validate judge."""
        return context.get_project()

    @functools.cached_property
    def stack_project(self) -> Project:
        """The project the stack runs with: the configured one plus this run's overrides."""
        from stagectl.stack import stack_project

        return stack_project(self.stack_overrides)

    @functools.cached_property
    def backend_name(self) -> str:
        from stagectl.stack import backend_name

        return backend_name(self.options.backend, self.project)  # the state dir is the same for both

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from stagectl.stack import backend_for

            self._backend = backend_for(self.backend_name, self.stack_project)
        return self._backend

    def render_check(self, _ctx: Any) -> RenderCheckPhase:
        from stagectl.render import check_phase

        return check_phase(self.project.root)

    def validate(self, _ctx: Any) -> ValidatePhase:
        from stagectl.validate import validate_phase

        return validate_phase()

    def preflight(self, _ctx: Any) -> Passed:
        skipped = self.backend.preflight()
        return Passed(reason="; ".join(f"{k} skipped: {v}" for k, v in sorted(skipped.items())) or None)

    def up(self, _ctx: Any) -> UpPhase:
        from stagectl.output import PlainProgress
        from stagectl.report.build import up_phase
        from stagectl.stack import bring_up, remember_backend
        from stagectl.versions import measure_versions

        started = _now()
        remember_backend(self.backend)  # first: a killed run leaves a stack that `down` must find
        result = bring_up(self.backend, self.options.wait_timeout, PlainProgress())
        running = {s.name for s in result.services if s.healthy}
        self.versions = measure_versions(self.stack_project.stack.services, self.stack_project.env, running)
        image_ids = getattr(self.backend, "image_ids", None)  # container backends: the image each runs
        if image_ids is not None:
            for name, image in image_ids().items():
                if name in running:
                    self.versions[name] = f"{self.versions[name]}, image {image}" if name in self.versions else f"image {image}"
        return up_phase(result, command="stagectl up", started_at=started)

    def smoke(self, _ctx: Any) -> SmokePhase:
        from stagectl.smoke import smoke_phase

        return smoke_phase(self.stack_project, backend=self.backend_name)

    def fuzz(self, _ctx: Any) -> FuzzPhase:
        from stagectl.fuzz import fuzz_phase

        return fuzz_phase(self.stack_project, self.backend_name, max_examples=self.options.fuzz_examples,
                          time_limit_s=self.options.fuzz_seconds)

    def soak(self, _ctx: Any) -> SoakPhase:
        from stagectl.soak import soak_phase

        return soak_phase(self.stack_project, self.backend_name, duration_s=self.options.soak_seconds)

    def chaos(self, _ctx: Any) -> ChaosPhase:
        from stagectl.chaos import chaos_phase

        return chaos_phase(self.stack_project, self.backend, self.options.chaos)

    def bench(self, _ctx: Any) -> BenchPhase:
        from stagectl.bench import bench_phase

        return bench_phase(self.stack_project, self.options.bench_seconds)

    def force_kill(self) -> None:
        """The pipeline's second-signal callback: kill what the backend started, without grace."""
        kill = getattr(self._backend, "kill", None)  # backends that can (local); compose's down is already forced
        if kill is not None:
            kill()

    def down(self, _ctx: Any) -> TeardownPhase:
        from stagectl.report.build import teardown_phase
        from stagectl.stack import forget_backend

        started = _now()
        volumes = self.options.volumes
        phase = teardown_phase(self.backend.down(volumes=volumes),
                               command="stagectl down" + (" --volumes" if volumes else ""), started_at=started)
        forget_backend(self.backend)
        return phase

    def optional_steps(self) -> list[Step]:
        """Fuzz (unless --fuzz-seconds 0), chaos (unless --chaos off), bench (unless --bench-seconds 0),
        soak (unless --soak-seconds 0).

        Fuzz comes before chaos: chaos judges levels, and the fuzz ends by proving it left the stack
        OPTIMAL with every breaker closed and no failure counted, and removes what it created. Its
        requests come from fresh loopback addresses, so no rate-limit window of 127.0.0.1 is spent.
        Soak comes last: it measures the dashboard's memory and descriptors after everything else."""
        extra = []
        if self.options.fuzz_seconds > 0:
            extra.append(Step("fuzz", self.fuzz))
        if self.options.chaos != "off":
            extra.append(Step("chaos", self.chaos))
        if self.options.bench_seconds > 0:
            extra.append(Step("bench", self.bench))
        if self.options.soak_seconds > 0:
            extra.append(Step("soak", self.soak))
        return extra


def run_pipeline(options: RunOptions) -> tuple[PipelineResult, Path]:
    """Run every step; returns the pipeline's result (records, exit code) and the report directory.
    Raises ConfigError for bad options, before anything starts."""
    from stagectl.chaos import MODES, PROBE_INTERVAL_OVERRIDE
    from stagectl.chaos.breaker_timing import RUN_RECOVERY_OVERRIDES
    from stagectl.report.step import ReportStep
    from stagectl.stack import ensure_env_file

    if options.teardown not in TEARDOWN_MODES:
        raise ConfigError(f"--teardown {options.teardown!r}: expected one of {', '.join(TEARDOWN_MODES)}")
    if options.chaos not in MODES:
        raise ConfigError(f"--chaos {options.chaos!r}: expected one of {', '.join(MODES)}")
    ensure_env_file()
    project = context.get_project()
    overrides = context.current().overrides
    stack_overrides = {}
    if options.chaos != "off":
        # fast probes, and short breaker recovery timeouts so that timing all four stays short
        fast = {**PROBE_INTERVAL_OVERRIDE, **RUN_RECOVERY_OVERRIDES}
        stack_overrides = {k: v for k, v in fast.items() if k not in overrides}
    steps = RunSteps(options, stack_overrides)
    out_dir = options.out if options.out.is_absolute() else project.root / options.out
    report = ReportStep(out_dir, run_id=uuid.uuid4().hex[:12], project=project.stack.project,
                        backend=options.backend or steps.backend_name, masker=context.current().masker,
                        service_versions=lambda: steps.versions, config_overrides={**overrides, **stack_overrides})
    pipeline_steps = [
        Step("render_check", steps.render_check),
        Step("validate", steps.validate),
        Step("preflight", steps.preflight, failure_code=ExitCode.PREFLIGHT),
        Step("up", steps.up, failure_code=ExitCode.UNHEALTHY),
        Step("smoke", steps.smoke),
        *steps.optional_steps(),
        Step("down", steps.down, kind="teardown", failure_code=ExitCode.TEARDOWN),
        Step("report", report, kind="final"),
    ]
    result = Pipeline(pipeline_steps, teardown=options.teardown, on_force=steps.force_kill, mask=context.mask).run()
    return result, out_dir
