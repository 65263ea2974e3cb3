"""The printable HTML view: the 15-section deployment checklist with evidence links, inline SVG
charts, the evidence itself, and sign-off fields. One self-contained file (no external assets).

A pure function of the Report: no clock, no randomness, sorted mappings — the same report.json
renders to the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from stagectl.report import charts, checklist
from stagectl.report.model import Report
from stagectl.report.store import mask_report
from stagectl.secrets import Masker

TEMPLATES = Path(__file__).parent / "templates"
STATE_MARK = {"verified": "☑", "failed": "☒", "not_verified": "☐"}
STATE_LABEL = {"verified": "verified", "failed": "FAILED", "not_verified": "not verified"}
SIGN_OFF_ROLES = ("Testing sign-off", "Deployment authorization", "Post-deployment validation")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in the template fails the tests, not the reader
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(anchor=checklist.anchor, mark=STATE_MARK, label=STATE_LABEL)
    env.filters["secs"] = lambda v: "–" if v is None else f"{v:.3f} s"
    env.filters["ms"] = lambda v: "–" if v is None else f"{v:.1f}"
    env.filters["when"] = lambda v: "–" if v is None else v.isoformat().replace("+00:00", "Z")
    return env


def render_html(report: Report, masker: Masker | None = None) -> str:
    """The HTML document for `report`, with every known secret masked."""
    report = mask_report(report, masker)
    phases = report.phases
    sections = checklist.evaluate(report)
    counts = {state: sum(1 for _, items in sections for i in items if i.state == state) for state in STATE_MARK}
    svg = {
        "latency": charts.latency_chart(phases.bench) if phases.bench else "",
        "timeline": charts.level_timeline_chart(phases.chaos) if phases.chaos else "",
        "healthy": charts.time_to_healthy_chart(phases.up) if phases.up else "",
    }
    duration = (report.finished_at - report.started_at).total_seconds() if report.finished_at else None
    return _environment().get_template("report.html.j2").render(
        r=report,
        phases=phases.items(),
        sections=sections,
        counts=counts,
        charts={k: Markup(v) for k, v in svg.items()},  # built from escaped parts in charts.py
        duration=duration,
        versions=sorted(report.service_versions.items()),
        overrides=sorted(report.config_overrides.items()),
        roles=SIGN_OFF_ROLES,
        summary=report.summary(),
        failures=[(n, c) for n, p in phases.items() for c in p.all_checks() if c.failed],
        stopped=[(n, p) for n, p in phases.items() if p.status in ("aborted", "interrupted", "error")],
    )
