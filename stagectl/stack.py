"""Which stack a command acts on: the project (with this run's overrides) and its backend.

The one place that builds a `BackendContext` (the `--set` overrides and the env file in use
included, which the compose backend reads) and that picks the backend: the `--backend` flag when
given, else the backend that brought this project's stack up (remembered in its state dir), else
local. Commands and phases get their backend here and nowhere else.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stagectl import context
from stagectl.errors import ConfigError, PreflightError
from stagectl.secrets import secret_values

if TYPE_CHECKING:
    from stagectl.backends.base import Backend, BackendContext, UpResult
    from stagectl.config.loader import Project

DEFAULT_BACKEND = "local"
BACKEND_HELP = ("local (processes), compose, or auto (compose when a Docker engine answers); "
                "default: the backend that brought the stack up, else local.")
_REMEMBERED = "backend"  # file in the state dir: the backend of the last `up`


def backend_context(project: Project) -> BackendContext:
    """Everything a backend needs from `project`, built the same way for every command."""
    from stagectl.backends.base import BackendContext

    overrides = {name: project.env[name] for name, source in project.env_sources.items() if source == "cli"}
    return BackendContext(stack=project.stack, env=project.env, root=project.root, state_dir=project.state_dir,
                          overrides=overrides, env_path=project.env_path)


def remembered_stack(project: Project) -> dict[str, Any]:
    """{"backend": name, "overrides": {...}} recorded by the last `up` of this project, or {}."""
    path = project.state_dir / _REMEMBERED
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8").strip()
    if not text.startswith("{"):  # the older plain-name format
        return {"backend": text, "overrides": {}} if text else {}
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"{path}: not the JSON stagectl writes", hint="remove it after `docker compose down` / `stagectl down --backend NAME`") from None
    return data if isinstance(data, dict) else {}


def backend_name(flag: str | None, project: Project) -> str:
    """`flag` when given, else the backend that brought the stack up, else local. A flag naming
    another backend than the one running this project's stack is a ConfigError (exit 2): acting on
    the other backend would silently look at nothing (or start a second stack on the same ports)."""
    remembered = str(remembered_stack(project).get("backend") or "")
    if not flag:
        return remembered or DEFAULT_BACKEND
    name = flag = str(getattr(flag, "value", flag))  # an enum option from the CLI, or a plain name
    if flag == "auto":
        from stagectl.backends import resolve_backend_name

        name = remembered or resolve_backend_name(flag)[0]
    if remembered and name != remembered:
        raise ConfigError(
            f"--backend {flag}: the stack of project {project.stack.project!r} is running on the {remembered} backend",
            hint=f"act on it without --backend (or with --backend {remembered}); `stagectl down` first to switch")
    return name


def backend_for(flag: str | None = None, project: Project | None = None) -> Backend:
    """The backend for `project` (default: the one the global options select); see `backend_name`."""
    from stagectl.backends import select_backend
    from stagectl.loopback import name_source_in_header

    project = project or context.get_project()
    backend = select_backend(backend_name(flag, project), backend_context(project))
    name_source_in_header(backend.name == "compose")  # clients behind Docker's port proxy name themselves
    return backend


def bring_up(backend: Backend, wait_timeout: float, on_progress: Callable[[dict], None] | None = None) -> UpResult:
    """`backend.up()`, with progress reports when the backend gives them (not every one does)."""
    up: Any = backend.up  # the Backend protocol leaves progress reports out: they are optional
    if on_progress is not None and "on_progress" in inspect.signature(up).parameters:
        return up(wait_timeout=wait_timeout, on_progress=on_progress)
    return up(wait_timeout=wait_timeout)


def remember_backend(backend: Backend) -> None:
    """Note which backend runs the stack and with which `--set` overrides, so later commands
    without --backend find it (and `context.get_project` applies the same overrides). Written
    before `up` starts anything, so that `down` still finds a stack whose `up` was killed; 0600:
    an override may be a secret."""
    state_dir = backend.ctx.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / _REMEMBERED
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        # the user's `--set` only: a pipeline's own overrides (chaos' short health-check interval)
        # belong to that run, not to the commands a user types next
        user = {k: v for k, v in backend.ctx.overrides.items() if context.current().overrides.get(k) == v}
        json.dump({"backend": backend.name, "overrides": user}, fh, sort_keys=True)
    os.chmod(path, 0o600)


def forget_backend(backend: Backend) -> None:
    """The stack is down: the next `up` chooses its backend afresh."""
    (backend.ctx.state_dir / _REMEMBERED).unlink(missing_ok=True)


def running_stack(flag: str | None = None) -> tuple[Project, Backend]:
    """(project, backend) of the running stack; PreflightError (exit 4) when the dashboard is not up."""
    project = context.get_project()
    backend = backend_for(flag, project)
    rows = {row.name: row for row in backend.status()}
    dashboard = rows.get("dashboard")
    if dashboard is None or not dashboard.healthy:
        state = dashboard.state if dashboard else "missing"
        raise PreflightError(f"no running stack for project {project.stack.project!r} (dashboard: {state})",
                             hint="start it with `stagectl up` (same --set options)")
    return project, backend


def stack_project(extra: Mapping[str, str]) -> Project:
    """The project the stack runs with: the configured one plus `extra` overrides (a pipeline's
    own, e.g. a short health-check interval for chaos) on top of `--set`."""
    from stagectl.config.loader import load_project

    ctx = context.current()
    project = load_project(ctx.project_dir, env_file=ctx.env_file, overrides={**ctx.overrides, **extra})
    ctx.masker.add(*secret_values(project.env))
    return project


def ensure_env_file() -> None:
    """A fresh clone has no env file: create the one the spec names (`env_file`, or `--env-file`)
    with newly generated secrets (never the example's), as `stagectl init` would, and say so."""
    from stagectl.config.loader import env_paths, find_root
    from stagectl.config.newenv import init_env
    from stagectl.config.spec import SPEC_NAME, read_spec
    from stagectl.output import console

    ctx = context.current()
    root = find_root(ctx.project_dir)
    target, _ = env_paths(root, read_spec(root / SPEC_NAME, root).data, ctx.env_file)
    if not target.exists():
        path, names = init_env(root, ctx.env_file)
        console().print(f"created {path} with {len(names)} freshly generated secrets (stagectl init)")
