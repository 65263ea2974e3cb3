"""`stagectl status [--watch] [--json]` (and `ps`): every service's state, health, pid, port,
uptime and restarts, plus the dashboard's level, score and circuit breakers; `--watch` refreshes a
live table until Ctrl-C."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.output import console, emit_json

if TYPE_CHECKING:
    from rich.console import Group

    from stagectl.watch import Snapshot

_STYLE = {"healthy": "green", "unhealthy": "red", "exited": "red", "stale": "yellow", "paused": "yellow"}
_LEVEL_STYLE = {"OPTIMAL": "green", "DEGRADED": "yellow", "LIMITED": "yellow", "MINIMAL": "red", "EMERGENCY": "bold red"}
_BREAKER_STYLE = {"closed": "green", "open": "bold red", "half_open": "yellow"}


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def render(snap: Snapshot, *, title: str = "") -> Group:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from stagectl.watch import uptime_s

    table = Table(title=title or None, title_justify="left")
    for column in ("service", "state", "pid", "port", "uptime", "restarts", "detail"):
        table.add_column(column)
    for r in snap.services:
        style = _STYLE.get(r.state, "")
        table.add_row(r.name, f"[{style}]{r.state}[/]" if style else r.state, str(r.pid or ""), str(r.port),
                      _uptime(uptime_s(r, snap.taken_at)), str(r.restarts or ""), Text(context.mask(r.detail)[:80]))
    if snap.dashboard is None:
        line = Text.from_markup(f"dashboard: [dim]{snap.dashboard_error}[/]")
    else:
        d = snap.dashboard
        breakers = "  ".join(f"{n} [{_BREAKER_STYLE.get(s, '')}]{s}[/]" for n, s in sorted(d.breakers.items()))
        score = f"{d.score:g}" if isinstance(d.score, (int, float)) else "?"
        line = Text.from_markup(f"dashboard: level [{_LEVEL_STYLE.get(d.level, '')}]{d.level}[/]  score {score}"
                                f"  breakers: {breakers}")
    return Group(table, line)


def show(backend_name: str | None, json_out: bool, watch: bool, interval: float, count: int | None) -> int:
    from stagectl.stack import backend_for
    from stagectl.watch import as_json, snapshot

    project = context.get_project()
    stack_backend = backend_for(backend_name, project)
    if json_out:
        emit_json(as_json(snapshot(project, stack_backend)))
        return 0
    out = console()
    if not watch:
        out.print(render(snapshot(project, stack_backend)))
        return 0
    from rich.live import Live

    shown = 0
    stamp = lambda: f"stagectl status --watch · {time.strftime('%H:%M:%S')} · Ctrl-C to stop"  # noqa: E731
    with Live(render(snapshot(project, stack_backend), title=stamp()), console=out, refresh_per_second=4,
              screen=False, auto_refresh=False) as live:
        while count is None or shown < count:
            live.update(render(snapshot(project, stack_backend), title=stamp()), refresh=True)
            shown += 1
            if count is not None and shown >= count:
                break
            time.sleep(interval)
    return 0


def register(app: typer.Typer, name: str = "status") -> None:
    def status(
        json_out: bool = typer.Option(False, "--json", help='{"services": [{"name","state","healthy","pid","port","ready_s","restarts","uptime_s","detail"}], "dashboard": {"level","score","breakers"}}'),
        watch: bool = typer.Option(False, "--watch", "-w", help="Refresh a live table until Ctrl-C."),
        interval: float = typer.Option(1.0, "--interval", min=0.1, help="Seconds between refreshes with --watch."),
        count: int = typer.Option(None, "--count", min=1, help="With --watch: stop after N refreshes (scripts)."),
        backend: BackendOption = None,
    ) -> int:
        """Show every service's state, uptime and restarts, and the dashboard's level and breakers."""
        return show(backend, json_out, watch, interval, count)

    app.command(name=name)(status)
