"""Render the deployment files (compose, env, Prometheus, alerts, Grafana, S3 init) from templates.

    result = render(project)          # in memory; raises ConfigError naming template:line
    write(result, project.render_dir) # atomic swap of the whole directory
    check(project)                    # [Diff] between compose/ and a fresh render ([] = current)

The committed render uses `committed_project(root)`: the spec resolved with `.env.staging.example`
only (never a user's `.env.staging`, never the process environment), so it is the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from stagectl.config.loader import Project, load_project
from stagectl.render.engine import RenderedFile, RenderResult, render
from stagectl.render.output import Diff, compare, write

__all__ = [
    "Diff", "RenderResult", "RenderedFile", "check", "committed_project", "compare", "render", "write",
]


def committed_project(root: Path | None = None) -> Project:
    """The project as the committed render sees it: the example env only (no user `.env.staging`,
    no process environment, no --set overrides), so the output is the same on every machine."""
    from stagectl.config.loader import env_paths, find_root
    from stagectl.config.spec import SPEC_NAME, read_spec

    root = find_root(root)
    _, example = env_paths(root, read_spec(root / SPEC_NAME, root).data)
    return load_project(root, env_file=example, use_process_env=False)


def check(project: Project) -> list[Diff]:
    """Differences between the project's render dir and a fresh render (empty when current)."""
    return compare(render(project), project.render_dir)
