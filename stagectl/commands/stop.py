"""`stagectl stop SERVICE…`: stop services (dependents first); they stay down until started."""

from __future__ import annotations

import typer

from stagectl.commands.servicectl import register_verb


def register(app: typer.Typer) -> None:
    register_verb(app, "stop", "Stop services (their stop signal and grace); the restart policy leaves them down.", waits=False)
