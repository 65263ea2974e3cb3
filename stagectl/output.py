"""Console output shared by every command: NO_COLOR honoured, JSON to stdout, nothing else there."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    """Human output on stdout (colour off when NO_COLOR is set or stdout is not a terminal)."""
    from rich.console import Console  # ~30 ms: not paid by commands that print only JSON

    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


# The version of the --json documents' shape: raised when a field changes meaning or goes away
# (new fields do not raise it). Every document carries it and the stagectl version.
JSON_SCHEMA_VERSION = 1


def versioned(payload: Any) -> Any:
    """`payload` with `stagectl_version` and `schema_version` first (a dict; a list is wrapped)."""
    from stagectl import __version__

    head = {"stagectl_version": __version__, "schema_version": JSON_SCHEMA_VERSION}
    if isinstance(payload, dict):
        return {**head, **{k: v for k, v in payload.items() if k not in head}}
    return {**head, "items": payload}


def emit_json(payload: Any) -> None:
    """Machine output for --json: exactly one JSON document on stdout, versioned (see `versioned`),
    every known secret masked."""
    from stagectl import context

    print(json.dumps(context.current().masker.tree(versioned(payload)), indent=2, sort_keys=False, default=str))


class PlainProgress:
    """Progress of `up` without a terminal: one line per service phase change on stderr, secrets
    masked (harnesses wait for these lines)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, state: dict) -> None:
        from stagectl import context

        for name, rec in (state.get("services") or {}).items():
            phase = rec.get("phase", "pending")
            if self.seen.get(name) != phase:
                self.seen[name] = phase
                sys.stderr.write(context.mask(f"{name}: {phase} {rec.get('detail') or ''}".rstrip()) + "\n")
                sys.stderr.flush()
