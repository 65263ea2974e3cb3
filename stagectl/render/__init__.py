"""Render the deployment files (compose, env, Prometheus, alerts, Grafana, S3 init) from templates.

    result = render(project)          # in memory; raises ConfigError naming template:line
    write(result, project.render_dir) # atomic swap of the whole directory
    check(project)                    # [Diff] between compose/ and a fresh render ([] = current)
    check_phase(root)                 # the same for the committed render, as the report's phase

The committed render uses `committed_project(root)`: the spec resolved with `.env.staging.example`
only (never a user's `.env.staging`, never the process environment), so it is the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from stagectl.config.loader import Project, load_project
from stagectl.render.engine import RenderedFile, RenderResult, render
from stagectl.render.output import Diff, compare, write

if TYPE_CHECKING:
    from stagectl.report.model import RenderCheckPhase

__all__ = [
    "Diff", "RenderResult", "RenderedFile", "check", "check_phase", "committed_project", "compare", "render", "write",
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


def check_phase(root: Path) -> RenderCheckPhase:
    """`render --check` as the report's phase, over every target `stagectl render --check` checks
    (compose/, and deploy/kubernetes/ where the project has its templates): one failed check per
    stale file (its diff, masked, as evidence), or one passed check per current target."""
    from stagectl import context
    from stagectl.render.targets import available, load
    from stagectl.report.model import RenderCheckPhase
    from stagectl.results import CheckResult, failure_summary, phase_status

    started = dt.datetime.now(dt.timezone.utc)
    project = committed_project(root)
    checks: list[CheckResult] = []
    files = 0
    for name in available(project):
        target = load(project, name)
        files += len(target.result.files)
        label = target.out_dir.relative_to(project.root) if target.out_dir.is_relative_to(project.root) else target.out_dir
        option = "" if name == "compose" else f" --target {name}"
        prefix = "render" if name == "compose" else f"render.{name}"  # compose keeps its ids of before
        checks += [
            CheckResult(f"{prefix}.{d.path}", "render", "fail", f"{label}/{d.path}: {d.kind}",
                        evidence=context.mask(d.diff)[-4000:] or None,
                        hint=f"run `stagectl render{option}` and commit {label}/")
            for d in target.diffs()
        ] or [CheckResult(f"{prefix}.current", "render", "pass", f"{label}/ equals a fresh render of templates/")]
    return RenderCheckPhase(status=phase_status(checks), reason=failure_summary(checks),
                            command="stagectl render --check", started_at=started, checks=checks, files_checked=files)
