"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from stagectl.stack import BACKEND_HELP

# None: the backend that brought the stack up, else local (stagectl/stack.py)
BackendOption = Annotated[Optional[str], typer.Option("--backend", help=BACKEND_HELP)]  # noqa: UP045 - typer reads it at runtime
