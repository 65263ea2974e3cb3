"""`stagectl ps`: the compose-style name of `stagectl status`."""

from __future__ import annotations

import typer

from stagectl.commands import status


def register(app: typer.Typer) -> None:
    status.register(app, name="ps")
