"""The versioned `report.json` model: what a `stagectl run` did, measured, and concluded.

Markdown, HTML and JUnit are views of this one model. Every check-like item
carries a `stagectl.results.CheckResult` (`check`), so counting, evidence and JUnit work the same
for validate checks, smoke tests, chaos scenarios and bench targets. A phase that did not run is
`None`; a phase that was aborted or interrupted is present with that status and the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stagectl.levels import Level
from stagectl.results import CheckResult, summarize

REPORT_VERSION: Literal[1] = 1
Outcome = Literal["PASSED", "FAILED", "INTERRUPTED", "ERROR"]
PhaseStatus = Literal["passed", "failed", "error", "aborted", "interrupted", "skipped"]
PHASE_NAMES = ("render_check", "validate", "up", "smoke", "fuzz", "chaos", "bench", "soak", "teardown")
# Pipeline step name → the phase it fills (the lifecycle calls teardown "down").
STEP_TO_PHASE = {**{name: name for name in PHASE_NAMES}, "down": "teardown", "render": "render_check"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Phase(_Strict):
    """Fields every phase has. `command` is what produced the numbers, so anyone can rerun it."""

    status: PhaseStatus
    reason: str | None = Field(None, description="why it failed (the failing checks), or was aborted/skipped/interrupted/errored")
    command: str | None = Field(None, description="the command that produced this phase's results")
    started_at: dt.datetime | None = None
    duration_s: float | None = None
    checks: list[CheckResult] = Field(default_factory=list)

    def all_checks(self) -> list[CheckResult]:
        """Every CheckResult of the phase, including those attached to its measurements."""
        return list(self.checks)

    def summary(self) -> dict[str, int]:
        return summarize(self.all_checks())


class RenderCheckPhase(Phase):
    """`stagectl render --check`: the committed deployment files equal a fresh render."""

    files_checked: int | None = None


class ValidatePhase(Phase):
    """`stagectl validate`: the static checks."""


class ServiceUp(_Strict):
    """One service brought up: how long until healthy, measured by the backend."""

    name: str
    ready_s: float | None
    state: str
    check: CheckResult


class UpPhase(Phase):
    services: list[ServiceUp] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="optional service → reason")
    total_s: float | None = None

    def all_checks(self) -> list[CheckResult]:
        return [*self.checks, *(s.check for s in self.services)]


class SmokePhase(Phase):
    """The live smoke tests against the running stack."""


class FuzzFailure(_Strict):
    """One answer that broke a rule, with the exact request that caused it."""

    method: str
    path: str = Field(description="the route template, e.g. /api/inventory/{sku}")
    url: str = Field(description="the URL as sent (query string percent-encoded)")
    mode: str = Field(description="schemathesis generation mode: positive (valid input) or negative (invalid)")
    status: int | None = Field(description="the answer's status; null when no answer came")
    problems: list[str]
    query: str | None = Field(None, description="the generated query parameters, as JSON")
    body: str | None = Field(None, description="the generated body, as JSON")
    curl: str = Field(description="the request as a curl command; the key is $DASHBOARD_API_KEY, never its value")


class FuzzPhase(Phase):
    """Property-based requests to every operation of the dashboard's OpenAPI document."""

    tool: str = ""
    requests: int = Field(0, description="requests sent")
    per_route: dict[str, int] = Field(default_factory=dict, description='"METHOD /template" → requests sent')
    statuses: dict[str, int] = Field(default_factory=dict, description="answer status (or transport error) → count")
    failures: list[FuzzFailure] = Field(default_factory=list)
    seed: int | None = Field(None, description="hypothesis seed: the same seed and budget generate the same cases")
    max_examples: int | None = Field(None, description="cases per operation and generation mode, at most")
    time_limit_s: float | None = None
    level_after: str | None = Field(None, description="the dashboard's degradation level after the run")


class SoakWindow(_Strict):
    """One time window of the soak."""

    t_s: float = Field(description="start, seconds since the soak started")
    n: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None


class SoakPhase(Phase):
    """A bounded constant-rate load on a mix of read and write endpoints."""

    rate_rps: float = Field(0.0, description="requests per second asked for")
    achieved_rps: float | None = None
    window_s: float = 0.0
    requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = Field(default_factory=dict)
    mix: dict[str, int] = Field(default_factory=dict, description="endpoint → requests sent")
    windows: list[SoakWindow] = Field(default_factory=list)
    stability_rule: str = ""
    rss_start_mb: float | None = Field(None, description="dashboard resident memory at the start (with its children)")
    rss_end_mb: float | None = None
    fds_start: int | None = Field(None, description="dashboard open file descriptors at the start")
    fds_end: int | None = None
    resources_note: str | None = Field(None, description="why RSS and descriptors were not measured, when not")


class ChaosScenario(_Strict):
    """One fault injected: which services went down, what level the dashboard showed, recovery."""

    name: str
    down: list[str]
    expected_level: Level
    observed_level: Level | None
    features_ok: bool | None
    time_to_degrade_s: float | None
    time_to_recover_s: float | None
    restored: bool
    check: CheckResult

    @property
    def status(self) -> str:
        return self.check.status


class LevelSample(_Strict):
    """One observation of the degradation level during chaos (for the timeline chart)."""

    t_s: float = Field(description="seconds since the chaos phase started")
    level: Level
    scenario: str | None = None


class ChaosPhase(Phase):
    scenarios: list[ChaosScenario] = Field(default_factory=list)
    timeline: list[LevelSample] = Field(default_factory=list)

    def all_checks(self) -> list[CheckResult]:
        return [*self.checks, *(s.check for s in self.scenarios)]


class BenchMeasurement(_Strict):
    """Latency percentiles and throughput of a bounded request loop against one endpoint."""

    name: str = Field(description='e.g. "GET /health"')
    n: int
    concurrency: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float
    errors: int


class BenchEndpoint(BenchMeasurement):
    """A measured endpoint with its target; `check` is the verdict (pass only when the target is met)."""

    target_ms: float
    target_percentile: Literal["p50", "p95", "p99"] = "p95"
    check: CheckResult


class BenchPhase(Phase):
    endpoints: list[BenchEndpoint] = Field(default_factory=list)
    ceiling: BenchMeasurement | None = Field(
        None, description="bare uvicorn on the same machine: the ceiling the endpoints are compared with"
    )

    def all_checks(self) -> list[CheckResult]:
        return [*self.checks, *(e.check for e in self.endpoints)]


class TeardownPhase(Phase):
    stopped: list[str] = Field(default_factory=list)
    killed: list[str] = Field(default_factory=list, description="needed SIGKILL after the grace period")
    leftovers: list[str] = Field(default_factory=list, description="could not be stopped (exit 5)")
    volumes_removed: bool = False


class Phases(_Strict):
    render_check: RenderCheckPhase | None = None
    validate_: ValidatePhase | None = Field(None, alias="validate")  # `validate` shadows a BaseModel attribute
    up: UpPhase | None = None
    smoke: SmokePhase | None = None
    fuzz: FuzzPhase | None = None
    chaos: ChaosPhase | None = None
    bench: BenchPhase | None = None
    soak: SoakPhase | None = None
    teardown: TeardownPhase | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    def get(self, name: str) -> Phase | None:
        """The phase called `name` (one of PHASE_NAMES), or None when it did not run."""
        if name not in PHASE_NAMES:
            raise KeyError(name)
        return getattr(self, "validate_" if name == "validate" else name)

    def for_step(self, step_name: str) -> Phase | None:
        """The phase a pipeline step filled (e.g. step "down" → teardown), or None."""
        phase_name = STEP_TO_PHASE.get(step_name)
        return self.get(phase_name) if phase_name else None

    def items(self) -> list[tuple[str, Phase]]:
        """(name, phase) for every phase that ran, in pipeline order."""
        return [(n, p) for n in PHASE_NAMES if (p := self.get(n)) is not None]


class StepRecord(_Strict):
    """What the lifecycle engine recorded for one step (also steps that are not phases, e.g. preflight)."""

    name: str
    status: PhaseStatus
    reason: str | None = None
    duration_s: float = 0.0


class Report(_Strict):
    """The whole run. `stagectl_report_version` changes when a field changes meaning or goes away."""

    stagectl_report_version: Literal[1] = REPORT_VERSION
    run_id: str
    project: str
    backend: str
    target: str | None = Field(
        None, description="the dashboard URL of a stack stagectl did not start (`--url`); null: the stack this run brought up"
    )
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: Outcome
    exit_code: int
    stagectl_version: str
    python_version: str
    service_versions: dict[str, str] = Field(
        default_factory=dict, description="service → version string, as measured by the backend"
    )
    config_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="variables the run set over the env file for the stack it brought up (e.g. the chaos probe interval)",
    )
    steps: list[StepRecord] = Field(default_factory=list)
    phases: Phases = Field(default_factory=Phases)

    def all_checks(self) -> list[CheckResult]:
        return [c for _, phase in self.phases.items() for c in phase.all_checks()]

    def summary(self) -> dict[str, int]:
        return summarize(self.all_checks())
