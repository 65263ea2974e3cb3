"""Options several commands share, declared once."""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer

from stagectl.stack import BACKEND_HELP


# Options with fixed values are enums, so shell completion offers them and a typo is a usage error.
class BackendName(str, enum.Enum):
    auto = "auto"
    local = "local"
    compose = "compose"


class ChaosMode(str, enum.Enum):
    quick = "quick"
    matrix = "matrix"
    off = "off"


class TeardownMode(str, enum.Enum):
    always = "always"
    on_success = "on-success"
    never = "never"


class DownFault(str, enum.Enum):
    stop = "stop"
    freeze = "freeze"


class RenderTarget(str, enum.Enum):
    compose = "compose"
    kubernetes = "kubernetes"
    all = "all"


def value(choice: enum.Enum | str | None) -> str | None:
    """The plain string of an enum option (None stays None)."""
    return choice.value if isinstance(choice, enum.Enum) else choice


# None: the backend that brought the stack up, else local (stagectl/stack.py)
BackendOption = Annotated[Optional[BackendName], typer.Option("--backend", help=BACKEND_HELP)]  # noqa: UP045 - typer reads it at runtime
