"""Write the views of a report (Markdown, HTML, JUnit) into a directory, each atomically."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stagectl.errors import StagectlError
from stagectl.report import html, junit, markdown
from stagectl.report.model import Report
from stagectl.report.store import mask_report, write_atomic
from stagectl.secrets import Masker

FORMATS = ("md", "html", "junit")
HTML_NAME = "report.html"
JUNIT_NAME = "junit.xml"
MARKDOWN_NAMES = ("STAGING_DEPLOYMENT_SUCCESS.md", "STAGING_DEPLOYMENT_FAILED.md")


def parse_formats(value: str) -> tuple[str, ...]:
    """'md,html' → ('md', 'html'); 'all' → every format. Raises StagectlError (exit 2) on an unknown one."""
    wanted = [f.strip().lower() for f in value.split(",") if f.strip()]
    if not wanted:
        raise StagectlError("--format is empty", hint=f"use one or more of {', '.join(FORMATS)}, or all")
    if "all" in wanted:
        return FORMATS
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown:
        raise StagectlError(f"unknown --format {', '.join(unknown)}", hint=f"use {', '.join(FORMATS)} or all")
    return tuple(f for f in FORMATS if f in wanted)


def render_views(report: Report, out_dir: Path, formats: Iterable[str] = FORMATS,
                 masker: Masker | None = None) -> list[Path]:
    """Write the requested views into `out_dir`; returns the paths written (in FORMATS order).

    The Markdown file is named after the outcome; the file of the other outcome, if an earlier run
    left one in `out_dir`, is removed so a stale SUCCESS never sits next to a FAILED run.
    """
    out_dir = Path(out_dir)
    report = mask_report(report, masker)
    written: list[Path] = []
    wanted = set(formats)
    if "md" in wanted:
        name = markdown.filename_for(report)
        written.append(write_atomic(out_dir / name, markdown.render_markdown(report)))
        for other in MARKDOWN_NAMES:
            if other != name:
                (out_dir / other).unlink(missing_ok=True)
    if "html" in wanted:
        written.append(write_atomic(out_dir / HTML_NAME, html.render_html(report)))
    if "junit" in wanted:
        written.append(write_atomic(out_dir / JUNIT_NAME, junit.render_junit(report)))
    return written
