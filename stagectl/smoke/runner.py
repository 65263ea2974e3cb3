"""Run the live smoke suite (`checks/smoke/`, a pytest suite) against a running stack.

The suite runs in its own pytest process, in its own process group, with a hard timeout: a hung
test cannot hang stagectl. Its JUnit XML is parsed into CheckResults, and pytest's exit codes
are kept apart (failed, interrupted, internal error, usage error, no tests collected) — a suite
that collected nothing is a failure, never a pass.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from stagectl.results import CheckResult, Status, summarize
from stagectl.secrets import Masker

SMOKE_DIR = Path(__file__).resolve().parents[2] / "checks" / "smoke"

PYTEST_OUTCOMES = {
    0: "passed",
    1: "failed",
    2: "interrupted",
    3: "internal_error",
    4: "usage_error",
    5: "no_tests_collected",
}


@dataclasses.dataclass(frozen=True)
class SmokeTarget:
    """Where the suite points: the dashboard URL, and the variables the tests read."""

    url: str
    env: Mapping[str, str]  # the project's resolved environment (secrets included; never printed)
    dashboard_log: Path | None = None
    remote: bool = False  # a stack stagectl did not start: tests needing more than the URL are not applicable


@dataclasses.dataclass(frozen=True)
class SmokeResult:
    results: list[CheckResult]
    pytest_exit: int
    outcome: str  # one of PYTEST_OUTCOMES' values, or "timeout"
    duration_s: float
    output_tail: str  # masked

    @property
    def ok(self) -> bool:
        summary = summarize(self.results)
        applicable = summary["total"] - summary["not_applicable"]
        return self.pytest_exit == 0 and summary["failed"] == 0 and summary["errors"] == 0 and applicable > 0

    def to_dict(self) -> dict:
        return {
            "checks": [r.to_dict() for r in self.results],
            "summary": summarize(self.results),
            "pytest_exit": self.pytest_exit,
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 3),
        }


def run_smoke(
    target: SmokeTarget,
    *,
    select: str | None = None,
    timeout_s: float = 600.0,
    suite_dir: Path = SMOKE_DIR,
) -> SmokeResult:
    """Run the suite once and return its results (never raises for test failures)."""
    masker = Masker.from_env(target.env)
    key_var = target.env.get("STAGECTL_API_KEY_ENV")
    if key_var and target.env.get(key_var):
        masker.add(target.env[key_var])  # a key under a name that does not look secret
    with tempfile.TemporaryDirectory(prefix="stagectl-smoke-") as tmp:
        junit = Path(tmp) / "smoke.xml"
        cmd = [
            sys.executable, "-m", "pytest", str(suite_dir), "-q", "-p", "no:cacheprovider",
            "-o", "addopts=", "--rootdir", str(suite_dir), f"--junitxml={junit}",
            "-o", "junit_family=xunit2", "-o", "junit_logging=system-out",
        ]
        if select:
            cmd += ["-k", select]
        env = {**os.environ, **target.env, "STAGECTL_TARGET_URL": target.url}
        if target.dashboard_log:
            env["STAGECTL_DASHBOARD_LOG"] = str(target.dashboard_log)
        if target.remote:
            env["STAGECTL_TARGET_REMOTE"] = "1"
        started = time.monotonic()
        log_path = Path(tmp) / "pytest.out"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout_s)
                outcome = PYTEST_OUTCOMES.get(code, f"exit_{code}")
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code, outcome = -1, "timeout"
        duration = time.monotonic() - started
        tail = masker("\n".join(log_path.read_text(errors="replace").splitlines()[-40:]))
        results = parse_junit(junit, masker) if junit.exists() else []
    if outcome == "timeout":
        results.append(CheckResult("smoke.suite.timeout", "smoke", "error", f"smoke suite exceeded {timeout_s:.0f}s and was killed", evidence=tail))
    elif outcome != "passed" and not any(r.failed for r in results):
        results.append(CheckResult("smoke.suite.outcome", "smoke", "error", f"pytest ended with {outcome} (exit {code})", evidence=tail))
    return SmokeResult(results, code, outcome, duration, tail)


def parse_junit(path: Path, masker: Masker) -> list[CheckResult]:
    """JUnit XML (pytest's) → CheckResults; ids are `smoke.<Class>.<test>` and stable."""
    out: list[CheckResult] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "")
        section = cls.removeprefix("Test") or "smoke"
        duration_ms = float(case.get("time", "0") or 0) * 1000
        status: Status = "pass"
        message, evidence = "passed", None
        outcomes: tuple[tuple[str, Status], ...] = (("failure", "fail"), ("error", "error"), ("skipped", "skip"))
        for tag, mapped in outcomes:
            node = case.find(tag)
            if node is not None:
                status = mapped
                message = masker(node.get("message") or tag)
                evidence = masker((node.text or "").strip()[-4000:]) or None
                break
        recorded = _properties(case)
        if recorded:  # e.g. a latency check's sample count and percentile: kept whatever the outcome
            lines = "\n".join(f"{k}={v}" for k, v in recorded.items())
            evidence = masker(lines) + ("\n" + evidence if evidence else "")
            if status == "pass" and "n" in recorded:
                message = "passed (" + ", ".join(f"{k}={v}" for k, v in recorded.items()) + ")"
        out.append(CheckResult(f"smoke.{cls}.{name}", section, status, message, duration_ms=round(duration_ms, 1), evidence=evidence))
    return out


def _properties(case: ET.Element) -> dict[str, str]:
    """`record_property` values of one test case (pytest writes them under <properties>)."""
    return {p.get("name", ""): p.get("value", "") for p in case.iter("property") if p.get("name")}
