"""stagectl/stack.py: the one place that builds a BackendContext and picks the backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagectl import context
from stagectl.stack import backend_context, backend_for, backend_name, forget_backend, remember_backend

SPEC = """\
version: 1
project: demo
services:
  db:
    runner: postgres
    port: ${DB_PORT:-5433}
    container_port: 5432
    healthcheck: {probe: postgres}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stagectl.yaml").write_text(SPEC)
    (tmp_path / "other.env").write_text("DB_PORT=6000\nDB_PASSWORD=from-the-file\n")
    monkeypatch.delenv("DB_PORT", raising=False)
    monkeypatch.chdir(tmp_path)
    context.reset(project_dir=tmp_path, env_file=tmp_path / "other.env", overrides={"DB_PORT": "6001"})
    yield tmp_path
    context.reset()


def test_the_context_carries_the_set_overrides_and_the_env_file_in_use(project: Path) -> None:
    ctx = backend_context(context.get_project())
    assert dict(ctx.overrides) == {"DB_PORT": "6001"}
    assert ctx.env_path == project / "other.env"
    assert ctx.env["DB_PORT"] == "6001" and ctx.stack.services["db"].port == 6001


def test_without_a_flag_the_backend_is_the_one_that_brought_the_stack_up(project: Path) -> None:
    loaded = context.get_project()
    assert backend_name(None, loaded) == "local"
    backend = backend_for("local")
    remember_backend(backend)
    (loaded.state_dir / "backend").write_text("compose\n")  # as `up --backend compose` leaves it
    assert backend_name(None, loaded) == "compose"
    assert backend_name("local", loaded) == "local"  # the flag wins
    forget_backend(backend)
    assert backend_name(None, loaded) == "local"
