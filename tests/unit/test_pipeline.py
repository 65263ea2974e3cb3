"""The lifecycle engine with fake steps: exit codes, ABORTED semantics, teardown modes, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from stagectl.errors import ConfigError, ExitCode, PreflightError, StagectlError, UnhealthyError
from stagectl.pipeline import (
    INTERNAL_ERROR,
    Pipeline,
    Step,
    StepRecord,
    exit_code_for,
    outcome_for,
)


@dataclass
class Result:
    status: str
    reason: str | None = None


def ok(ctx):
    return Result("passed")


def fails(ctx):
    return Result("failed", "2 smoke tests failed")


def raises(exc):
    def run(ctx):
        raise exc

    return run


class Calls:
    """Records which steps ran (and what the final step saw)."""

    def __init__(self):
        self.ran: list[str] = []
        self.final_saw: tuple[int, str] | None = None

    def step(self, name, fn=ok, **kw):
        def run(ctx):
            self.ran.append(name)
            return fn(ctx)

        return Step(name, run, **kw)

    def final(self):
        def run(ctx):
            self.ran.append("report")
            self.final_saw = (ctx.exit_code, ctx.outcome)
            return Result("passed")

        return Step("report", run, kind="final")


def lifecycle(calls, overrides=None, teardown_fn=ok):
    """render_check, validate, preflight, up, smoke, chaos, bench, down, report — with overrides."""
    overrides = overrides or {}
    codes = {"preflight": ExitCode.PREFLIGHT, "up": ExitCode.UNHEALTHY}
    steps = [calls.step(n, overrides.get(n, ok), failure_code=codes.get(n, ExitCode.CHECKS_FAILED))
             for n in ("render_check", "validate", "preflight", "up", "smoke", "chaos", "bench")]
    return [*steps, calls.step("down", teardown_fn, kind="teardown", failure_code=ExitCode.TEARDOWN), calls.final()]


def run(steps, **kw):
    return Pipeline(steps, handle_signals=kw.pop("handle_signals", False), **kw).run()


def statuses(result):
    return {r.name: r.status for r in result.records}


def test_all_pass_exit_0_and_every_step_ran_in_order():
    calls = Calls()
    result = run(lifecycle(calls))
    assert result.exit_code == 0 and result.outcome == "PASSED"
    assert calls.ran == ["render_check", "validate", "preflight", "up", "smoke", "chaos", "bench", "down", "report"]
    assert calls.final_saw == (0, "PASSED")


def test_failed_smoke_aborts_the_rest_with_reason_and_still_tears_down():
    calls = Calls()
    result = run(lifecycle(calls, {"smoke": fails}))
    assert result.exit_code == ExitCode.CHECKS_FAILED and result.outcome == "FAILED"
    by_name = {r.name: r for r in result.records}
    assert by_name["smoke"].status == "failed" and by_name["smoke"].reason == "2 smoke tests failed"
    for name in ("chaos", "bench"):
        assert by_name[name].status == "aborted"
        assert by_name[name].reason == "not run: smoke failed"
    assert "chaos" not in calls.ran and "bench" not in calls.ran
    assert calls.ran[-2:] == ["down", "report"]
    assert calls.final_saw == (1, "FAILED")


@pytest.mark.parametrize(
    ("step", "exc", "code", "outcome"),
    [
        ("validate", ConfigError("bad key"), ExitCode.USAGE, "ERROR"),
        ("preflight", PreflightError("port 5433 busy"), ExitCode.PREFLIGHT, "ERROR"),
        ("up", UnhealthyError("postgres crashed"), ExitCode.UNHEALTHY, "FAILED"),
        ("bench", RuntimeError("bug"), INTERNAL_ERROR, "ERROR"),
    ],
)
def test_exceptions_map_to_their_exit_code_and_teardown_still_runs(step, exc, code, outcome):
    calls = Calls()
    result = run(lifecycle(calls, {step: raises(exc)}))
    assert (result.exit_code, result.outcome) == (code, outcome)
    record = next(r for r in result.records if r.name == step)
    assert record.status in ("failed", "error") and str(exc) in record.reason
    assert "down" in calls.ran and "report" in calls.ran


def test_returned_failure_uses_the_steps_failure_code():
    calls = Calls()
    result = run(lifecycle(calls, {"up": fails}))
    assert result.exit_code == ExitCode.UNHEALTHY


def test_step_without_a_status_is_an_internal_error():
    calls = Calls()
    result = run(lifecycle(calls, {"smoke": lambda ctx: None}))
    assert result.exit_code == INTERNAL_ERROR
    assert "returned no status" in next(r.reason for r in result.records if r.name == "smoke")


@pytest.mark.parametrize(("failing", "expected"), [(None, ExitCode.TEARDOWN), ("smoke", ExitCode.TEARDOWN),
                                                   ("up", ExitCode.UNHEALTHY), ("preflight", ExitCode.PREFLIGHT)])
def test_teardown_failure_overrides_0_and_1_only(failing, expected):
    calls = Calls()
    overrides = {failing: fails} if failing else {}
    result = run(lifecycle(calls, overrides, teardown_fn=raises(StagectlError("redis left", exit_code=ExitCode.TEARDOWN))))
    assert result.exit_code == expected


def test_report_failure_turns_a_pass_into_1():
    steps = [Step("smoke", ok), Step("report", fails, kind="final")]
    assert run(steps).exit_code == ExitCode.CHECKS_FAILED


def test_skipped_step_does_not_abort_the_next():
    calls = Calls()
    result = run(lifecycle(calls, {"chaos": lambda ctx: Result("skipped", "--skip chaos")}))
    assert result.exit_code == 0 and statuses(result)["chaos"] == "skipped" and "bench" in calls.ran


@pytest.mark.parametrize(
    ("mode", "failing", "runs"),
    [("always", None, True), ("always", "smoke", True), ("on-success", None, True),
     ("on-success", "smoke", False), ("never", None, False), ("never", "smoke", False)],
)
def test_teardown_modes(mode, failing, runs):
    calls = Calls()
    result = run(lifecycle(calls, {failing: fails} if failing else {}), teardown=mode)
    assert ("down" in calls.ran) is runs
    down = next(r for r in result.records if r.name == "down")
    if runs:
        assert down.status == "passed"
    else:
        assert down.status == "skipped" and mode in down.reason
    assert calls.ran[-1] == "report"


def test_unknown_teardown_mode_is_a_usage_error():
    with pytest.raises(StagectlError) as info:
        Pipeline([Step("a", ok)], teardown="sometimes")
    assert info.value.exit_code == ExitCode.USAGE


def test_secrets_in_reasons_are_masked():
    steps = [Step("up", raises(UnhealthyError("auth failed for password hunter2-canary")))]
    result = run(steps, mask=lambda s: s.replace("hunter2-canary", "****"))
    assert "hunter2-canary" not in result.records[0].reason and "****" in result.records[0].reason


@pytest.mark.parametrize(
    ("records", "signum", "expected"),
    [
        ([], None, 0),
        ([("smoke", "main", "failed", 1)], None, 1),
        ([("smoke", "main", "failed", 1), ("down", "teardown", "failed", 5)], None, 5),
        ([("up", "main", "failed", 3), ("down", "teardown", "failed", 5)], None, 3),
        ([("validate", "main", "failed", 2), ("down", "teardown", "failed", 5)], None, 2),
        ([("up", "main", "failed", 3)], signal.SIGINT, 130),
        ([("down", "teardown", "failed", 5)], signal.SIGTERM, 143),
        ([("report", "final", "failed", 1)], None, 1),
        ([("up", "main", "failed", 3), ("report", "final", "failed", 1)], None, 3),
    ],
)
def test_exit_code_precedence(records, signum, expected):
    recs = [StepRecord(name, kind, status, exit_code=code) for name, kind, status, code in records]
    assert exit_code_for(recs, signum) == expected


@pytest.mark.parametrize(("code", "outcome"), [(0, "PASSED"), (1, "FAILED"), (2, "ERROR"), (3, "FAILED"),
                                               (4, "ERROR"), (5, "FAILED"), (70, "ERROR"), (130, "INTERRUPTED")])
def test_outcome_for(code, outcome):
    assert outcome_for(code) == outcome


# -- signals, in process (pytest runs tests in the main thread) -------------------------------------

def test_first_sigint_stops_the_step_aborts_the_rest_and_tears_down():
    calls = Calls()

    def interrupted_smoke(ctx):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises into this sleep
        return Result("passed")

    previous = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    result = run(lifecycle(calls, {"smoke": interrupted_smoke}), handle_signals=True)
    assert time.monotonic() - started < 2
    assert result.exit_code == 130 and result.outcome == "INTERRUPTED"
    s = statuses(result)
    assert s["smoke"] == "interrupted" and s["chaos"] == "aborted" and s["bench"] == "aborted"
    assert "SIGINT" in next(r.reason for r in result.records if r.name == "chaos")
    assert calls.ran[-2:] == ["down", "report"] and calls.final_saw == (130, "INTERRUPTED")
    assert signal.getsignal(signal.SIGINT) is previous


def test_interrupt_tears_down_even_with_on_success_but_not_with_never():
    for mode, expect_down in (("on-success", True), ("never", False)):
        calls = Calls()

        def sigterm_up(ctx):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)

        result = run(lifecycle(calls, {"up": sigterm_up}), handle_signals=True, teardown=mode)
        assert result.exit_code == 143
        assert ("down" in calls.ran) is expect_down


def test_second_signal_forces_teardown_and_the_report_still_runs():
    forced = []
    calls = Calls()

    def slow_down(ctx):
        os.kill(os.getpid(), signal.SIGINT)  # the second signal, during graceful teardown
        time.sleep(5)
        return Result("passed")

    def smoke(ctx):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)

    started = time.monotonic()
    result = run(lifecycle(calls, {"smoke": smoke}, teardown_fn=slow_down), handle_signals=True,
                 on_force=lambda: forced.append(True))
    assert time.monotonic() - started < 2
    assert forced == [True] and result.forced
    down = next(r for r in result.records if r.name == "down")
    assert down.status == "interrupted" and "second SIGINT" in down.reason
    assert calls.ran[-1] == "report" and result.exit_code == 130


def test_cooperative_step_is_not_raised_into_and_sees_cancel():
    seen = []

    def cooperative(ctx):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100):  # bounded: 100 × 10 ms
            if ctx.cancel.is_set():
                seen.append("cancel")
                return Result("passed")
            time.sleep(0.01)
        return Result("passed")

    result = run([Step("bench", cooperative, cooperative=True), Step("down", ok, kind="teardown")],
                 handle_signals=True)
    assert seen == ["cancel"]
    assert statuses(result) == {"bench": "interrupted", "down": "passed"} and result.exit_code == 130


# -- a real process: SIGINT once → graceful, twice → forced --------------------------------------------

SCRIPT = textwrap.dedent("""
    import sys, time, datetime as dt
    from pathlib import Path
    from stagectl.pipeline import Pipeline, Step
    from stagectl.report.build import report_from_pipeline
    from stagectl.report.model import ChaosPhase, SmokePhase, TeardownPhase, UpPhase
    from stagectl.report.store import write_report

    out = Path(sys.argv[1]); teardown_s = float(sys.argv[2])

    def up(ctx):
        return UpPhase(status="passed")

    def chaos(ctx):
        return ChaosPhase(status="passed")

    def smoke(ctx):
        print("READY", flush=True)
        for _ in range(600):  # bounded: at most 60 s
            time.sleep(0.1)
        return SmokePhase(status="passed")

    def down(ctx):
        print("TEARDOWN", flush=True)
        for _ in range(int(teardown_s * 10)):
            time.sleep(0.1)
        (out / "teardown-done").write_text("graceful")
        return TeardownPhase(status="passed")

    def report(ctx):
        rep = report_from_pipeline(ctx.records, run_id="r1", project="p", backend="fake",
                                   started_at=ctx.started_at, finished_at=dt.datetime.now(dt.timezone.utc),
                                   exit_code=ctx.exit_code, outcome=ctx.outcome)
        write_report(rep, out / "report.json")
        return SmokePhase(status="passed")

    result = Pipeline([Step("up", up), Step("smoke", smoke), Step("chaos", chaos), Step("down", down, kind="teardown"),
                       Step("report", report, kind="final")],
                      on_force=lambda: (out / "forced").write_text("killed everything")).run()
    sys.exit(result.exit_code)
""")


def _spawn(tmp_path, teardown_s):
    script = tmp_path / "tiny_pipeline.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), str(teardown_s)],
                            stdout=subprocess.PIPE, text=True, env=env)


def _wait_line(proc, expected, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # readline blocks, but the child prints within seconds or exits
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"child never printed {expected!r} (rc={proc.poll()})")


def test_real_process_single_sigint_graceful_teardown_exit_130_report_interrupted(tmp_path):
    proc = _spawn(tmp_path, teardown_s=0.3)
    try:
        _wait_line(proc, "READY")
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert rc == 130
    assert (tmp_path / "teardown-done").read_text() == "graceful"
    assert not (tmp_path / "forced").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "INTERRUPTED" and report["exit_code"] == 130
    steps = {s["name"]: s["status"] for s in report["steps"]}
    assert steps == {"up": "passed", "smoke": "interrupted", "chaos": "aborted", "down": "passed"}
    assert report["phases"]["teardown"]["status"] == "passed"
    assert report["phases"]["smoke"]["status"] == "interrupted"
    assert report["phases"]["chaos"] == {**report["phases"]["chaos"], "status": "aborted", "reason": "not run: SIGINT received"}


def test_real_process_second_sigint_forces_quickly(tmp_path):
    proc = _spawn(tmp_path, teardown_s=30)
    try:
        _wait_line(proc, "READY")
        proc.send_signal(signal.SIGINT)
        _wait_line(proc, "TEARDOWN")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    assert rc == 130 and took < 3, f"rc={rc} after {took:.2f} s"
    assert (tmp_path / "forced").read_text() == "killed everything"
    assert not (tmp_path / "teardown-done").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "INTERRUPTED"
    assert report["phases"]["teardown"]["status"] == "interrupted"
