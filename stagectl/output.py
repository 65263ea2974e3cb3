"""Console output shared by every command: NO_COLOR honoured, JSON to stdout, nothing else there."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    """Human output on stdout (colour off when NO_COLOR is set or stdout is not a terminal)."""
    from rich.console import Console  # ~30 ms: not paid by commands that print only JSON

    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def emit_json(payload: Any) -> None:
    """Machine output for --json: exactly one JSON document on stdout, every known secret masked."""
    from stagectl import context

    print(json.dumps(context.current().masker.tree(payload), indent=2, sort_keys=False, default=str))
