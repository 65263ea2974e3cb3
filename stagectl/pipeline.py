"""The lifecycle engine of `stagectl run`: a named sequence of steps, teardown from `finally`,
two-stage Ctrl-C, and the exit code (docs/exit-codes.md).

A step is a callable `run(ctx) -> result` where `result.status` is one of "passed", "failed",
"error", "skipped", "interrupted" (the report's phase models fit). Raising a StagectlError fails the
step with that error's exit code; any other exception is an internal error (exit 70, as in cli.py).
Steps come in three kinds:
  main      run in order; after the first failure the rest are ABORTED with the reason;
  teardown  run from `finally` according to --teardown (always | on-success | never);
  final     always run last (the report), never interrupted; `ctx.exit_code` / `ctx.outcome` give
            the verdict so far.

Signals (SIGINT, SIGTERM). First: `ctx.cancel` is set and, unless the running step is
`cooperative`, `Interrupted` is raised inside it so its own `finally` blocks (fault restores) run;
the remaining main steps are ABORTED and teardown runs (unless --teardown never: an explicit
request to keep the stack). Second: `on_force()` is called (kill everything) and a running teardown
step is interrupted, so the run ends quickly; the final steps still run. Further signals are ignored.

Exit code precedence (`exit_code_for`), highest first:
  128+N  interrupted by signal N (the user stopped the run; any teardown trouble is in the report)
  2/3/4/1/70  the code of the first main step that failed (only one can fail: the rest are aborted)
  5      a teardown step failed — this replaces 0 and 1 only, because 2/3/4 name the root cause
         and a leftover process after a failed `up` is a consequence, not the headline
  1      a final step (the report) failed while everything else passed: unrecorded evidence is no pass
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from stagectl.errors import ExitCode, Interrupted, StagectlError

StepKind = Literal["main", "teardown", "final"]
TeardownMode = Literal["always", "on-success", "never"]
TEARDOWN_MODES: tuple[TeardownMode, ...] = ("always", "on-success", "never")
INTERNAL_ERROR = 70  # EX_SOFTWARE, the code cli.py uses for a bug
FAILED_STATUSES = ("failed", "error")
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], Any]
    kind: StepKind = "main"
    failure_code: int = ExitCode.CHECKS_FAILED  # exit code when the step returns a failed result
    cooperative: bool = False  # polls ctx.cancel itself; the first signal does not raise into it


@dataclasses.dataclass
class StepRecord:
    name: str
    kind: StepKind
    status: str  # passed | failed | error | aborted | interrupted | skipped
    reason: str | None = None
    duration_s: float = 0.0
    exit_code: int = 0  # what this step contributes (0 unless failed)
    result: Any = None  # the step's returned phase result, if any


@dataclasses.dataclass
class StepContext:
    """What a step sees: the records so far, the cancel flag, and the verdict so far."""

    records: list[StepRecord]
    cancel: threading.Event
    teardown: TeardownMode
    started_at: dt.datetime
    signum: int | None = None

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.records, self.signum)

    @property
    def outcome(self) -> str:
        return outcome_for(self.exit_code)


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    records: list[StepRecord]
    exit_code: int
    outcome: str  # PASSED | FAILED | INTERRUPTED | ERROR
    signum: int | None
    forced: bool
    started_at: dt.datetime
    finished_at: dt.datetime


def exit_code_for(records: Sequence[StepRecord], signum: int | None) -> int:
    """The run's exit code from its step records (precedence in the module docstring)."""
    if signum is not None:
        return 128 + signum
    code = next((r.exit_code for r in records if r.kind == "main" and r.status in FAILED_STATUSES), 0)
    if code in (0, ExitCode.CHECKS_FAILED) and any(
        r.kind == "teardown" and r.status in FAILED_STATUSES for r in records
    ):
        code = ExitCode.TEARDOWN
    if code == 0 and any(r.kind == "final" and r.status in FAILED_STATUSES for r in records):
        code = ExitCode.CHECKS_FAILED
    return int(code)


def outcome_for(exit_code: int) -> str:
    if exit_code == 0:
        return "PASSED"
    if exit_code > 128:
        return "INTERRUPTED"
    if exit_code in (ExitCode.CHECKS_FAILED, ExitCode.UNHEALTHY, ExitCode.TEARDOWN):
        return "FAILED"
    return "ERROR"  # usage/config, preflight, internal error: the run could not be carried out


class Pipeline:
    """Runs steps in order; see the module docstring for the semantics."""

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        teardown: TeardownMode = "always",
        on_force: Callable[[], None] | None = None,
        mask: Callable[[str], str] = str,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        handle_signals: bool = True,
    ):
        if teardown not in TEARDOWN_MODES:
            raise StagectlError(f"--teardown must be one of {', '.join(TEARDOWN_MODES)}, not {teardown!r}")
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        self.steps = list(steps)
        self.teardown = teardown
        self.on_force = on_force
        self.mask = mask
        self.clock, self.now = clock, now
        self.handle_signals = handle_signals
        self.forced = False
        self._current: Step | None = None
        self._signals = 0
        self._ctx: StepContext | None = None

    # -- signals -----------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: Any) -> None:
        ctx, current = self._ctx, self._current
        if ctx is None:
            return
        self._signals += 1
        if self._signals == 1:
            if current is not None and current.kind == "final":
                self._signals = 0  # the run is already over; the report being written stands
                return
            ctx.signum = signum
            ctx.cancel.set()
            if current is not None and current.kind == "main" and not current.cooperative:
                raise Interrupted(signum)
        elif self._signals == 2:
            self.forced = True
            if self.on_force is not None:
                try:
                    self.on_force()
                except Exception:  # noqa: BLE001 - a failing kill must not stop the report
                    pass
            if current is not None and current.kind != "final":
                raise Interrupted(ctx.signum or signum, forced=True)

    def _install(self) -> dict[int, Any]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._on_signal) for sig in HANDLED_SIGNALS}

    # -- steps -------------------------------------------------------------------------------
    def _execute(self, step: Step, ctx: StepContext) -> StepRecord:
        start = self.clock()
        record = StepRecord(step.name, step.kind, "error")
        try:
            try:
                self._current = step
                record.result = step.run(ctx)
            finally:
                self._current = None
            status = getattr(record.result, "status", None)
            if ctx.cancel.is_set() and step.kind == "main":
                record.status, record.reason = "interrupted", f"stopped by {_signame(ctx.signum)}"
            elif status in ("passed", "skipped", "interrupted"):
                record.status = status
                record.reason = getattr(record.result, "reason", None)
            elif status in FAILED_STATUSES:
                record.status, record.exit_code = "failed", int(step.failure_code)
                record.reason = getattr(record.result, "reason", None) or f"{step.name} failed"
            else:
                record.exit_code = INTERNAL_ERROR
                record.reason = f"internal error: step {step.name} returned no status ({type(record.result).__name__})"
        except Interrupted as exc:
            record.status = "interrupted"
            record.reason = f"forced by a second {_signame(exc.signum)}" if exc.forced else f"stopped by {_signame(exc.signum)}"
        except StagectlError as exc:
            record.status, record.exit_code = "failed", int(exc.exit_code)
            record.reason = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
        except Exception as exc:  # noqa: BLE001 - a bug in one step must not skip teardown
            record.exit_code = INTERNAL_ERROR
            record.reason = f"internal error: {type(exc).__name__}: {exc}"
        record.duration_s = round(self.clock() - start, 6)
        if record.reason:
            record.reason = self.mask(record.reason)
        return record

    def _teardown_skip_reason(self, ctx: StepContext) -> str | None:
        if self.teardown == "never":
            return "kept running: --teardown never"
        failed = next((r.name for r in ctx.records if r.status in FAILED_STATUSES), None)
        if self.teardown == "on-success" and failed and ctx.signum is None:
            return f"kept running for inspection: --teardown on-success and {failed} failed"
        return None

    def run(self) -> PipelineResult:
        """Run every step; never raises for a step's failure. Returns the records and the exit code."""
        ctx = StepContext([], threading.Event(), self.teardown, self.now())
        self._ctx, self._signals, self.forced = ctx, 0, False
        previous = self._install()
        try:
            try:
                for step in (s for s in self.steps if s.kind == "main"):
                    blocker = next((r for r in ctx.records if r.status != "passed" and r.status != "skipped"), None)
                    if ctx.signum is not None:
                        ctx.records.append(StepRecord(step.name, "main", "aborted", f"not run: {_signame(ctx.signum)} received"))
                    elif blocker is not None:
                        ctx.records.append(StepRecord(step.name, "main", "aborted", f"not run: {blocker.name} {blocker.status}"))
                    else:
                        ctx.records.append(self._execute(step, ctx))
            except Interrupted:
                pass  # arrived between steps; the loop's records already say what ran
            finally:
                for step in (s for s in self.steps if s.kind == "teardown"):
                    skip = self._teardown_skip_reason(ctx)
                    if skip is not None:
                        ctx.records.append(StepRecord(step.name, "teardown", "skipped", skip))
                    else:
                        ctx.records.append(self._execute(step, ctx))
                for step in (s for s in self.steps if s.kind == "final"):
                    ctx.records.append(self._execute(step, ctx))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._ctx = None
        code = exit_code_for(ctx.records, ctx.signum)
        return PipelineResult(ctx.records, code, outcome_for(code), ctx.signum, self.forced, ctx.started_at, self.now())


def _signame(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "a signal"
