"""The render targets `stagectl render --target` knows: what each renders, where, and how it is
compared and written. `compose` is the default target of a write; `--check` checks every target
the project has templates for, so drift in either fails CI."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from stagectl.config.loader import Project
from stagectl.errors import ConfigError
from stagectl.render.engine import RenderResult
from stagectl.render.output import Diff

TARGETS = ("compose", "kubernetes")
DEFAULT_WRITE = "compose"


@dataclasses.dataclass(frozen=True)
class Target:
    """One render target, rendered in memory (nothing written yet)."""

    name: str
    out_dir: Path
    result: RenderResult
    compare: Callable[[RenderResult, Path], list[Diff]]
    write: Callable[[RenderResult, Path], None]

    def diffs(self) -> list[Diff]:
        return self.compare(self.result, self.out_dir)


def available(project: Project) -> list[str]:
    """Targets this project has templates for (compose always: its absence is an error)."""
    from stagectl.render.kubernetes import TEMPLATE_SUBDIR

    return ["compose"] + (["kubernetes"] if (project.root / "templates" / TEMPLATE_SUBDIR).is_dir() else [])


def selected(project: Project, name: str | None, *, check_only: bool) -> list[str]:
    """--target NAME, or the default: compose for a write, every available target for --check."""
    if name is None:
        return available(project) if check_only else [DEFAULT_WRITE]
    if name == "all":
        return available(project)
    if name not in TARGETS:
        raise ConfigError(f"unknown render target {name!r}", hint=f"targets: {', '.join(TARGETS)}, all")
    return [name]


def load(project: Project, name: str) -> Target:
    """Render target `name` of the project in memory. Raises ConfigError naming template:line."""
    if name == "compose":
        from stagectl.render.engine import render
        from stagectl.render.output import compare, write

        return Target(name, project.render_dir, render(project), compare, write)
    from stagectl.render.kubernetes import (
        compare_kubernetes,
        out_dir,
        render_kubernetes,
        write_kubernetes,
    )

    return Target(name, out_dir(project), render_kubernetes(project), compare_kubernetes, write_kubernetes)
