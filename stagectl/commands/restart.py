"""`stagectl restart SERVICE…`: stop, then start in dependency order, waiting for health."""

from __future__ import annotations

import typer

from stagectl.commands.servicectl import register_verb


def register(app: typer.Typer) -> None:
    register_verb(app, "restart", "Restart services: stop them, start them in dependency order, wait for health.", waits=True)
