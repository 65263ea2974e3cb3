"""The local backend: every service as a process on 127.0.0.1 (no Docker needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagectl.backends.local.backend import LocalBackend
    from stagectl.config.loader import Project


def from_project(project: Project) -> LocalBackend:
    """A LocalBackend for a loaded `Project` (stagectl.config.loader)."""
    from stagectl.backends.local.backend import LocalBackend
    from stagectl.stack import backend_context

    return LocalBackend(backend_context(project))
