"""The Markdown view: STAGING_DEPLOYMENT_SUCCESS.md or STAGING_DEPLOYMENT_FAILED.md.

What ran, what passed, each number next to the command that measured it, every failure with its
evidence (probe transcript, log tail). A pure function of the Report: same report, same bytes.
"""

from __future__ import annotations

import re

from stagectl.report import checklist
from stagectl.report.loadviews import fuzz_markdown, soak_markdown
from stagectl.report.model import Report
from stagectl.report.store import mask_report
from stagectl.results import CheckResult
from stagectl.secrets import Masker

ICON = {"pass": "✅", "fail": "❌", "error": "💥", "skip": "⏭️"}


def filename_for(report: Report) -> str:
    """SUCCESS only for a PASSED run; FAILED, INTERRUPTED and ERROR all get the FAILED name."""
    return "STAGING_DEPLOYMENT_SUCCESS.md" if report.outcome == "PASSED" else "STAGING_DEPLOYMENT_FAILED.md"


def _cell(value: object) -> str:
    text = "–" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _row(*cells: object) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    return [_row(*header), "|" + "|".join("---" for _ in header) + "|", *(_row(*r) for r in rows)]


def _fence(text: str) -> list[str]:
    """A code block whose fence is longer than any backtick run inside (evidence may contain ```)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text.rstrip("\n"), fence]


def _secs(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f} s"


def _failure(phase_name: str, command: str | None, check: CheckResult) -> list[str]:
    lines = [f"### {phase_name}: `{check.id}` — {check.status}", "", check.message]
    if check.location:
        lines += ["", f"Location: `{check.location}`"]
    if check.hint:
        lines += ["", f"Hint: {check.hint}"]
    if check.evidence:
        lines += ["", "Evidence:", "", *_fence(check.evidence)]
    else:
        lines += ["", "Evidence: none recorded."]
    if command:
        lines += ["", f"Reproduce with: `{command}`"]
    return lines + [""]


def render_markdown(report: Report, masker: Masker | None = None) -> str:
    """The Markdown document for `report`, with every known secret masked."""
    r = mask_report(report, masker)
    title = "SUCCESS" if r.outcome == "PASSED" else "FAILED"
    s = r.summary()
    out = [f"# Staging deployment: {title}", ""]
    out += _table(("field", "value"), [
        ("Project", f"{r.project} (backend: {r.backend})"),
        ("Target", f"{r.target} (a stack stagectl did not start)" if r.target else "the stack this run brought up"),
        ("Run id", f"`{r.run_id}`"),
        ("Outcome", f"**{r.outcome}** (exit code {r.exit_code})"),
        ("Started", r.started_at.isoformat()), ("Finished", r.finished_at.isoformat() if r.finished_at else None),
        ("Checks", f"{s['passed']} passed, {s['failed']} failed, {s['errors']} errors, {s['skipped']} skipped, "
                   f"{s['not_applicable']} not applicable"),
        ("Tools", f"stagectl {r.stagectl_version}, Python {r.python_version}"),
    ])
    out += ["", "## What ran", ""]
    rows: list[tuple[object, ...]] = []
    for step in r.steps:
        phase = r.phases.for_step(step.name)
        sm = phase.summary() if phase else None
        rows.append((step.name, step.status, sm and sm["passed"], sm and sm["failed"] + sm["errors"],
                     sm and sm["skipped"], sm and sm["not_applicable"], _secs(step.duration_s),
                     phase.command if phase else None, step.reason))
    out += _table(("step", "status", "passed", "failed", "skipped", "n/a", "duration", "command", "reason"), rows)
    out += ["", "## Versions measured", ""]
    out += _table(("service", "version"), sorted(r.service_versions.items())) if r.service_versions else [
        "No service versions were measured."]
    if r.config_overrides:
        out += ["", "## Configuration overrides for this run", "",
                "The stack was brought up with these values instead of the env file's:", ""]
        out += _table(("variable", "value"), sorted(r.config_overrides.items()))

    failures = [(n, p.command, c) for n, p in r.phases.items() for c in p.all_checks() if c.failed]
    stopped = [(n, p) for n, p in r.phases.items() if p.status in ("aborted", "interrupted", "error")]
    if failures or stopped:
        out += ["", "## Failures", ""]
        for name, phase in stopped:
            out += [f"- **{name}** {phase.status}: {phase.reason or 'no reason recorded'}"]
        if stopped:
            out += [""]
        for name, command, check in failures:
            out += _failure(name, command, check)

    out += ["", "## Measurements", ""]
    if r.phases.up and r.phases.up.services:
        up = r.phases.up
        out += [f"Time to healthy, measured by `{up.command}` (total {_secs(up.total_s)}):", ""]
        out += _table(("service", "state", "ready"), [(x.name, x.state, _secs(x.ready_s)) for x in up.services]
                      + [(n, f"skipped: {why}", None) for n, why in sorted(up.skipped.items())])
        out += [""]
    if r.phases.bench and (r.phases.bench.endpoints or r.phases.bench.ceiling):
        b = r.phases.bench
        out += [f"Latency, measured by `{b.command}`:", ""]
        bench_rows: list[tuple[object, ...]] = [(e.name, e.n, e.concurrency, f"{e.p50_ms:.1f}", f"{e.p95_ms:.1f}", f"{e.p99_ms:.1f}",
                 f"{e.throughput_rps:.1f}", e.errors, f"{e.target_percentile} < {e.target_ms:.0f} ms", e.check.status)
                for e in b.endpoints]
        if b.ceiling:
            c = b.ceiling
            bench_rows.append((f"{c.name} (ceiling)", c.n, c.concurrency, f"{c.p50_ms:.1f}", f"{c.p95_ms:.1f}",
                         f"{c.p99_ms:.1f}", f"{c.throughput_rps:.1f}", c.errors, None, "reference"))
        out += _table(("endpoint", "n", "conc.", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors", "target", "verdict"), bench_rows)
        out += [""]
    latency = _smoke_latency_rows(r)
    if latency:
        out += [f"Smoke latency checks, measured by `{r.phases.smoke.command}` (n = samples behind each p95):", ""]  # type: ignore[union-attr]
        out += _table(("check", "n", "p95 ms", "limit ms", "status"), latency)
        out += [""]
    if r.phases.chaos and r.phases.chaos.scenarios:
        ch = r.phases.chaos
        out += [f"Degradation under faults, measured by `{ch.command}`:", ""]
        out += _table(("scenario", "down", "expected", "observed", "features", "degrade", "recover", "restored", "status"), [
            (x.name, ", ".join(x.down), x.expected_level, x.observed_level,
             {True: "ok", False: "wrong", None: None}[x.features_ok], _secs(x.time_to_degrade_s),
             _secs(x.time_to_recover_s), "yes" if x.restored else "NO", x.check.status) for x in ch.scenarios])
        out += [""]
    if r.phases.fuzz and r.phases.fuzz.requests:
        out += fuzz_markdown(r.phases.fuzz, _table)
    if r.phases.soak and r.phases.soak.requests:
        out += soak_markdown(r.phases.soak, _table)
    if not any(p for p in (r.phases.up, r.phases.bench, r.phases.chaos, r.phases.fuzz, r.phases.soak)):
        out += ["No measurements: up, bench and chaos did not run.", ""]

    out += ["## Checks by phase", ""]
    for name, phase in r.phases.items():
        sm = phase.summary()
        out += [f"### {name} — {phase.status} ({sm['passed']} passed, {sm['failed'] + sm['errors']} failed, "
                f"{sm['skipped']} skipped, {sm['not_applicable']} not applicable)", ""]
        if phase.command:
            out += [f"Command: `{phase.command}`", ""]
        out += [f"- {ICON[c.status]} `{c.id}` — {_cell(c.message)}" for c in phase.all_checks()] or ["- no checks recorded"]
        out += [""]

    open_items = [i for _, items in checklist.evaluate(r) for i in items if i.state != "verified"]
    out += ["## Checklist items not verified by this run", ""]
    out += [f"- {i.number} {i.text} — {'FAILED' if i.state == 'failed' else 'not verified'}: {i.note}" for i in open_items]
    out += ["", "Every other item of the 15-section checklist is backed by a check above "
            "(see the HTML report for the links)."]
    return "\n".join(out) + "\n"


def _smoke_latency_rows(r) -> list[tuple[object, ...]]:
    """Smoke checks that recorded a sample count (`n=` in their evidence), with their percentile."""
    rows: list[tuple[object, ...]] = []
    for check in (r.phases.smoke.checks if r.phases.smoke else []):
        recorded = dict(line.split("=", 1) for line in (check.evidence or "").splitlines() if "=" in line)
        if "n" in recorded:
            rows.append((check.id, recorded["n"], recorded.get("p95_ms"), recorded.get("limit_ms"), check.status))
    return rows
