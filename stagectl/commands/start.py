"""`stagectl start SERVICE…`: start stopped services in dependency order and wait for health."""

from __future__ import annotations

import typer

from stagectl.commands.servicectl import register_verb


def register(app: typer.Typer) -> None:
    register_verb(app, "start", "Start stopped services (dependency order) and wait until they are healthy.", waits=True)
