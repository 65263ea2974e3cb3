"""The run context the CLI's global options fill in and every command reads.

Commands never parse `--project-dir`, `--env-file` or `--set` themselves: they call
`get_project()`, which loads the project once per process with those options applied and
registers its secret values with the error boundary's masker.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from stagectl.secrets import Masker, secret_values


@dataclasses.dataclass
class RunContext:
    """Global options of one stagectl invocation."""

    project_dir: Path | None = None
    env_file: Path | None = None
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    debug: bool = False
    no_color: bool = False
    interrupted_by: int = 0  # the signal number once SIGINT/SIGTERM arrived
    masker: Masker = dataclasses.field(default_factory=Masker)
    _projects: dict[bool, object] = dataclasses.field(default_factory=dict, repr=False)


_current = RunContext()


def current() -> RunContext:
    """The context of this invocation (defaults when the CLI callback has not run, e.g. in tests)."""
    return _current


def reset(**options: object) -> RunContext:
    """Start a fresh context (the CLI callback calls this; tests may too)."""
    global _current
    _current = RunContext(**options)  # type: ignore[arg-type]
    _current.masker.add(*secret_values(os.environ), *secret_values(_current.overrides))
    return _current


def get_project(allow_example: bool = False):
    """Load (once) the project selected by the global options. Raises ConfigError (exit 2).

    `allow_example=True` falls back to the env example file when the real env file is missing;
    only commands that never start anything with those values (render, config) should ask for it.
    """
    from stagectl.config.loader import load_project

    ctx = current()
    cached = ctx._projects.get(allow_example)
    if cached is not None:
        return cached
    project = load_project(
        ctx.project_dir,
        env_file=ctx.env_file,
        overrides=dict(ctx.overrides),
        allow_example=allow_example,
    )
    ctx.masker.add(*secret_values(project.env))
    project = _with_remembered_overrides(project, allow_example)
    ctx._projects[allow_example] = project
    return project


def _with_remembered_overrides(project, allow_example: bool):
    """The running stack's `--set` overrides (recorded by `up`) when this invocation gives none, so
    `status`, `smoke`, `chaos`… without `--set` see the stack as it was started. An invocation with
    its own `--set` is judged by exactly those: merging would let a stack started with a wrong
    value (say, SERVICE_WEIGHTS) set the expectations chaos checks it against."""
    from stagectl.config.loader import load_project
    from stagectl.stack import remembered_stack

    ctx = current()
    remembered = dict(remembered_stack(project).get("overrides") or {})
    if not remembered or ctx.overrides:
        return project
    ctx.masker.add(*secret_values(remembered))
    project = load_project(ctx.project_dir, env_file=ctx.env_file, overrides={**remembered, **ctx.overrides},
                           allow_example=allow_example)
    ctx.masker.add(*secret_values(project.env))
    return project


def learn_env_secrets() -> None:
    """Best effort, for the error boundary: register secrets of the env file even when no project
    was loaded (a command failed before, or loaded it some other way). Never raises."""
    from stagectl.config.envfile import parse_env_file
    from stagectl.config.loader import env_paths, find_root
    from stagectl.config.spec import SPEC_NAME, read_spec

    ctx = current()
    try:
        root = find_root(ctx.project_dir)
        env_path, _ = env_paths(root, read_spec(root / SPEC_NAME, root).data, ctx.env_file)
        values = {v.name: v.value for v in parse_env_file(env_path)}
    except Exception:  # noqa: BLE001 — masking must never cause a second error
        return
    ctx.masker.add(*secret_values(values))


def mask(text: str) -> str:
    """Mask every secret known to this invocation in `text`."""
    return current().masker(text)
