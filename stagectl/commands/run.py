"""`stagectl run`: the whole pipeline for CI.

render --check → validate → preflight → up → smoke → chaos → bench → down → report, on the
lifecycle engine (stagectl/pipeline.py): a failed step aborts the rest, `down` and `report` always
run, two-stage Ctrl-C, and the exit code of DESIGN.md. Each step is a few lines that call the same
core functions as the single commands, and return the report's phase model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from pathlib import Path

import typer

from stagectl import context
from stagectl.errors import ConfigError, ExitCode
from stagectl.levels import LEVELS
from stagectl.output import console
from stagectl.pipeline import TEARDOWN_MODES, Pipeline, Step
from stagectl.report.model import (
    BenchEndpoint,
    BenchMeasurement,
    BenchPhase,
    ChaosPhase,
    ChaosScenario,
    LevelSample,
    RenderCheckPhase,
    SmokePhase,
    ValidatePhase,
)
from stagectl.results import CheckResult, phase_status
from stagectl.secrets import secret_values
from stagectl.versions import measure_versions

# The dashboard probes its dependencies every HEALTH_CHECK_INTERVAL seconds (10 in the example
# env). The chaos phase has to see each degradation and recovery, which needs ~1 s probes to fit
# in minutes: the pipeline brings the stack up with this override (validate still judges the env
# file as written), and report.json lists it under config_overrides.
CHAOS_PROBE_INTERVAL = "1"
CHAOS_MODES = ("quick", "matrix", "off")


@dataclasses.dataclass(frozen=True)
class Passed:
    """The result of a step that is not a report phase (preflight): it raised, or it passed."""

    status: str = "passed"
    reason: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class RunSteps:
    """The pipeline's steps, sharing the project and the backend."""

    def __init__(self, backend_name: str, wait_timeout: float, chaos: str, bench_seconds: float, volumes: bool,
                 stack_overrides: dict[str, str]):
        self.backend_name = backend_name
        self.stack_overrides = stack_overrides
        self.wait_timeout = wait_timeout
        self.chaos_mode = chaos
        self.bench_seconds = bench_seconds
        self.volumes = volumes
        self._backend = None
        self.versions: dict[str, str] = {}  # measured while the stack is up; the report comes after down

    @property
    def project(self):
        """The project as configured: what render --check and validate judge."""
        return context.get_project()

    @functools.cached_property
    def stack_project(self):
        """The project the stack runs with: the configured one plus this run's overrides."""
        from stagectl.config.loader import load_project

        ctx = context.current()
        project = load_project(ctx.project_dir, env_file=ctx.env_file, overrides={**ctx.overrides, **self.stack_overrides})
        ctx.masker.add(*secret_values(project.env))
        return project

    @property
    def backend(self):
        if self._backend is None:
            from stagectl.commands.up import backend_for

            self._backend = backend_for(self.backend_name, self.stack_project)
        return self._backend

    def render_check(self, _ctx) -> RenderCheckPhase:
        from stagectl.render import check, committed_project

        started = _now()
        diffs = check(committed_project(self.project.root))
        checks = [
            CheckResult(f"render.{d.path}", "render", "fail", f"{d.path}: {d.kind}",
                        evidence=context.mask(d.diff)[-4000:] or None, hint="run `stagectl render` and commit compose/")
            for d in diffs
        ] or [CheckResult("render.current", "render", "pass", "compose/ equals a fresh render of templates/")]
        return RenderCheckPhase(status=phase_status(checks), reason=_failures(checks),
                                command="stagectl render --check", started_at=started, checks=checks)

    def validate(self, _ctx) -> ValidatePhase:
        from stagectl.commands.validate import validate

        started = _now()
        results, duration = validate()
        return ValidatePhase(status=phase_status(results), reason=_failures(results), command="stagectl validate",
                             started_at=started,
                             duration_s=round(duration, 4), checks=results)

    def preflight(self, _ctx) -> "Passed":
        skipped = self.backend.preflight()
        return Passed(reason="; ".join(f"{k} skipped: {v}" for k, v in sorted(skipped.items())) or None)

    def up(self, _ctx):
        from stagectl.commands.up import _PlainProgress
        from stagectl.report.build import up_phase

        started = _now()
        result = self.backend.up(wait_timeout=self.wait_timeout, on_progress=_PlainProgress())
        running = {s.name for s in result.services if s.healthy}
        self.versions = measure_versions(self.stack_project.stack.services, self.stack_project.env, running)
        return up_phase(result, command="stagectl up", started_at=started)

    def smoke(self, _ctx) -> SmokePhase:
        from stagectl.commands.smoke import smoke_target
        from stagectl.smoke import run_smoke

        started = _now()
        result = run_smoke(smoke_target(self.stack_project, backend=self.backend_name))
        return SmokePhase(status="passed" if result.ok else "failed", reason=_failures(result.results), command="stagectl smoke",
                          started_at=started, duration_s=round(result.duration_s, 3), checks=result.results)

    def chaos(self, _ctx) -> ChaosPhase:
        from stagectl.commands.chaos import run_chaos_on_stack, select_scenarios

        started = _now()
        run = run_chaos_on_stack(self.stack_project, self.backend, select_scenarios(self.chaos_mode), which=self.chaos_mode)
        checks = {c.id: c for c in run.check_results()}
        scenarios = [
            ChaosScenario(name=r.name, down=r.down, expected_level=r.expected_level,
                          observed_level=r.observed_level if r.observed_level in LEVELS else None,
                          features_ok=r.features_ok, time_to_degrade_s=r.time_to_degrade_s,
                          time_to_recover_s=r.time_to_recover_s, restored=r.restored, check=checks[f"chaos.{r.name}"])
            for r in run.scenarios
        ]
        # Samples where the dashboard did not answer have no level; the chart shows levels only.
        timeline = [LevelSample(t_s=s["t"], level=s["level"], scenario=s.get("scenario"))
                    for s in run.timeline if s.get("level") in LEVELS]
        flag = "--matrix" if self.chaos_mode == "matrix" else ""
        return ChaosPhase(status="passed" if run.ok else "failed", reason=_failures(list(checks.values())),
                          command=f"stagectl chaos {flag}".strip(),
                          started_at=started, duration_s=run.wall_s, scenarios=scenarios, timeline=timeline,
                          checks=[checks["chaos.final-health"]])

    def bench(self, _ctx) -> BenchPhase:
        from stagectl.commands.bench import bench_project

        started = _now()
        run = bench_project(self.stack_project, time_limit_s=self.bench_seconds)
        checks = {c.id: c for c in run.check_results()}
        endpoints, ceiling = [], None
        for m in run.targets:
            numbers = dict(name=m.name, n=m.count, concurrency=run.settings["concurrency"], p50_ms=m.p50_ms or 0.0,
                           p95_ms=m.p95_ms or 0.0, p99_ms=m.p99_ms or 0.0, throughput_rps=m.throughput_rps or 0.0,
                           errors=m.errors)
            if m.kind == "ceiling":
                ceiling = BenchMeasurement(**numbers)
            else:
                endpoints.append(BenchEndpoint(**numbers, target_ms=m.limit_ms or 0.0, check=checks[f"bench.{m.name}"]))
        return BenchPhase(status="passed" if run.ok else "failed", reason=_failures(list(checks.values())),
                          command=f"stagectl bench --time-limit {self.bench_seconds:g}",
                          started_at=started, endpoints=endpoints, ceiling=ceiling, checks=[checks["bench.concurrency"]])

    def force_kill(self) -> None:
        """The pipeline's second-signal callback: kill what the backend started, without grace."""
        kill = getattr(self._backend, "kill", None)  # backends that can (local); compose's down is already forced
        if kill is not None:
            kill()

    def down(self, _ctx):
        from stagectl.report.build import teardown_phase

        started = _now()
        return teardown_phase(self.backend.down(volumes=self.volumes),
                              command="stagectl down" + (" --volumes" if self.volumes else ""), started_at=started)


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        backend: str = typer.Option("local", "--backend", help="local (processes), compose, or auto."),
        chaos: str = typer.Option("quick", "--chaos", help="quick (the seed's failure modes), matrix (all 16), or off."),
        teardown: str = typer.Option("always", "--teardown", help="always | on-success | never."),
        wait_timeout: float = typer.Option(120.0, "--wait-timeout", min=1.0, help="Seconds until every service must be healthy."),
        bench_seconds: float = typer.Option(5.0, "--bench-seconds", min=0.0, help="Time limit per bench endpoint (0 = skip bench)."),
        out: Path = typer.Option(Path("reports"), "--out", help="Where report.json and its views go."),
        volumes: bool = typer.Option(False, "--volumes", help="Also delete the stack's data at teardown."),
    ) -> int:
        """The whole pipeline for CI (exit codes: see README)."""
        if teardown not in TEARDOWN_MODES:
            raise ConfigError(f"--teardown {teardown!r}: expected one of {', '.join(TEARDOWN_MODES)}")
        if chaos not in CHAOS_MODES:
            raise ConfigError(f"--chaos {chaos!r}: expected one of {', '.join(CHAOS_MODES)}")
        ensure_env_file()
        project = context.get_project()
        stack_overrides = {}
        if chaos != "off" and "HEALTH_CHECK_INTERVAL" not in context.current().overrides:
            stack_overrides["HEALTH_CHECK_INTERVAL"] = CHAOS_PROBE_INTERVAL
        steps = RunSteps(backend, wait_timeout, chaos, bench_seconds, volumes, stack_overrides)
        from stagectl.report.step import ReportStep

        run_id = uuid.uuid4().hex[:12]
        out_dir = out if out.is_absolute() else project.root / out
        pipeline_steps = [
            Step("render_check", steps.render_check),
            Step("validate", steps.validate),
            Step("preflight", steps.preflight, failure_code=ExitCode.PREFLIGHT),
            Step("up", steps.up, failure_code=ExitCode.UNHEALTHY),
            Step("smoke", steps.smoke),
            *extra_steps(steps),
            Step("down", steps.down, kind="teardown", failure_code=ExitCode.TEARDOWN),
            Step("report", ReportStep(out_dir, run_id=run_id, project=project.stack.project, backend=steps.backend_name,
                                      masker=context.current().masker, service_versions=lambda: steps.versions,
                                      config_overrides={**context.current().overrides, **stack_overrides}),
                 kind="final"),
        ]
        result = Pipeline(pipeline_steps, teardown=teardown, on_force=steps.force_kill, mask=context.mask).run()
        print_summary(result, out_dir)
        return result.exit_code


def extra_steps(steps: RunSteps) -> list[Step]:
    """Chaos (unless --chaos off) and bench (unless --bench-seconds 0)."""
    extra = []
    if steps.chaos_mode != "off":
        extra.append(Step("chaos", steps.chaos))
    if steps.bench_seconds > 0:
        extra.append(Step("bench", steps.bench))
    return extra


def ensure_env_file() -> None:
    """A fresh clone has no env file: create the one the spec names (`env_file`, or `--env-file`)
    with newly generated secrets (never the example's), as `stagectl init` would, and say so."""
    from stagectl.commands.init import init_env
    from stagectl.config.loader import env_paths, find_root
    from stagectl.config.spec import SPEC_NAME, read_spec

    ctx = context.current()
    root = find_root(ctx.project_dir)
    target, _ = env_paths(root, read_spec(root / SPEC_NAME, root).data, ctx.env_file)
    if not target.exists():
        path, names = init_env(root, ctx.env_file)
        console().print(f"created {path} with {len(names)} freshly generated secrets (stagectl init)")


def print_summary(result, out_dir: Path) -> None:
    out = console()
    for record in result.records:
        colour = {"passed": "green", "failed": "red", "error": "magenta"}.get(record.status, "yellow")
        reason = f" — {context.mask(record.reason)}" if record.reason else ""
        out.print(f"[{colour}]{record.status:>11}[/] {record.name} ({record.duration_s:.2f}s){reason}", soft_wrap=True)
    out.print(f"outcome: [bold]{result.outcome}[/] (exit {result.exit_code}); report in {out_dir}")
