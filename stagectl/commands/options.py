"""Options several commands share, declared once."""

from __future__ import annotations

import enum
from pathlib import Path
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

# A stack stagectl did not start (stagectl/remote.py): the key never on the command line.
UrlOption = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--url", metavar="URL",
    help="A stack stagectl did not start, by its dashboard URL; the API key from $STAGECTL_API_KEY or --api-key-file. "
         "Checks needing more than the URL are reported as not applicable.")]
ApiKeyFileOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--api-key-file", metavar="FILE", help="With --url: read the API key from FILE (one line).")]
ReportOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--report", metavar="FILE",
    help="Also record this phase in report.json FILE (created, or updated when it is of the same target); "
         "`stagectl report FILE` renders it.")]
