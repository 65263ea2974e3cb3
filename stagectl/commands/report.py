"""`stagectl report`: re-render the views (Markdown, HTML, JUnit) of a report.json."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from stagectl.errors import ConfigError
from stagectl.output import console
from stagectl.secrets import Masker, secret_values

DEFAULT_REPORT = Path("reports/report.json")


def _masker() -> Masker:
    """Secrets of the process env and, when a project is found, of its env file.

    report.json was masked when written; this masks again with today's secrets so a report written
    by an older stagectl (or edited by hand) cannot leak a value we know to be secret.
    """
    masker = Masker.from_env(os.environ)
    try:
        from stagectl.config.loader import load_project

        masker.add(*secret_values(load_project().env))
    except ConfigError:
        pass  # no project here: re-rendering a copied report.json must still work
    return masker


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        report_json: Path = typer.Argument(DEFAULT_REPORT, help="The report.json to render."),
        out: Path = typer.Option(None, "--out", help="Output directory (default: the report's directory)."),
        formats: str = typer.Option("all", "--format", help="md, html, junit (comma-separated) or all."),
    ) -> int:
        """Re-render STAGING_DEPLOYMENT_*.md, report.html and junit.xml from a report.json."""
        from stagectl.report.render import parse_formats, render_views  # jinja2, charts: ~0.2 s
        from stagectl.report.store import read_report

        wanted = parse_formats(formats)
        loaded = read_report(report_json)
        written = render_views(loaded, out or report_json.parent, wanted, masker=_masker())
        out_console = console()
        for path in written:
            out_console.print(f"wrote {path}")
        return 0
