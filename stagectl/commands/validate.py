"""`stagectl validate`: run the static checks against the spec, the env files and the rendered files.

Exit 0 when nothing failed or errored, 1 otherwise, 2 on a config error (from the loader) or an
unknown --section. Uses .env.staging, or the example when there is none (nothing is started).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import typer

from stagectl import context
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json
from stagectl.results import CheckResult, summarize

_STYLE = {"fail": "bold red", "error": "bold magenta", "skip": "yellow", "pass": "green"}
_RANK = {"fail": 0, "error": 1, "skip": 2, "pass": 3}


def payload(results: Sequence[CheckResult], duration_s: float) -> dict:
    """The --json document: {"checks": [...], "summary": {...}, "duration_s": float}."""
    return {"checks": [r.to_dict() for r in results], "summary": summarize(results), "duration_s": round(duration_s, 4)}


def print_table(results: Sequence[CheckResult], duration_s: float) -> None:
    """One table, grouped by section: sections with failures first, failures first within them."""
    from rich.markup import escape
    from rich.table import Table

    by_section: dict[str, list[CheckResult]] = {}
    for result in results:
        by_section.setdefault(result.section, []).append(result)
    ordered = sorted(by_section.items(), key=lambda item: min(_RANK[r.status] for r in item[1]))
    table = Table(show_header=True, header_style="bold", expand=False)
    for column in ("status", "check", "result", "where"):
        table.add_column(column, overflow="fold")
    for section, items in ordered:
        counts = summarize(items)
        table.add_section()
        table.add_row("", f"[bold]{escape(section)}[/]", f"[dim]{counts['passed']}/{counts['total']} passed[/]", "")
        for r in sorted(items, key=lambda r: _RANK[r.status]):
            table.add_row(f"[{_STYLE[r.status]}]{r.status.upper()}[/]", escape(r.id), escape(r.message), escape(r.location or ""))
            if r.failed and r.hint:
                table.add_row("", "", f"[dim]hint: {escape(r.hint)}[/]", "")
    out = console()
    out.print(table)
    s = summarize(results)
    colour = "red" if s["failed"] or s["errors"] else "green"
    out.print(
        f"[{colour}]{s['passed']} passed, {s['failed']} failed, {s['errors']} errors, {s['skipped']} skipped[/] "
        f"of {s['total']} in {duration_s * 1000:.0f} ms",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_command(
        as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout: checks, summary, duration_s."),
        junit: Optional[Path] = typer.Option(None, "--junit", help="Also write the results as JUnit XML to FILE.", metavar="FILE"),
        sections: list[str] = typer.Option([], "--section", help="Run only this section (repeatable).", metavar="NAME"),
    ) -> int:
        """Run the static checks (docs/checks.md lists them); exit 1 when any fails."""
        from stagectl.report.junit import write_junit
        from stagectl.validate import SUITE, validate

        results, duration_s = validate(sections)
        if junit is not None:
            write_junit(junit, {SUITE: results}, masker=context.mask)
        if as_json:
            emit_json(payload(results, duration_s))
        else:
            print_table(results, duration_s)
        bad = any(r.failed for r in results)
        return int(ExitCode.CHECKS_FAILED if bad else ExitCode.OK)
