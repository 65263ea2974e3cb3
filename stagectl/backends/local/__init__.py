"""The local backend: every service as a process on 127.0.0.1 (no Docker needed)."""

from __future__ import annotations

from stagectl.backends.base import BackendContext


def from_project(project) -> "LocalBackend":  # noqa: F821 - imported lazily below
    """A LocalBackend for a loaded `Project` (stagectl.config.loader)."""
    from stagectl.backends.local.backend import LocalBackend

    ctx = BackendContext(stack=project.stack, env=project.env, root=project.root, state_dir=project.state_dir)
    return LocalBackend(ctx)
