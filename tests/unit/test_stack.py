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
    assert backend_name("compose", loaded) == "compose"
    forget_backend(backend)
    assert backend_name(None, loaded) == "local"
    assert backend_name("compose", loaded) == "compose"  # nothing runs: the flag chooses


def test_a_flag_naming_another_backend_than_the_running_stack_is_exit_2(project: Path) -> None:
    """Fault: `status --backend local` while a compose stack runs silently looks at nothing."""
    from stagectl.errors import ConfigError

    loaded = context.get_project()
    remember_backend(backend_for("local"))
    with pytest.raises(ConfigError) as err:
        backend_name("compose", loaded)
    assert err.value.exit_code == 2
    assert "running on the local backend" in err.value.message and "--backend local" in (err.value.hint or "")
    assert backend_name("auto", loaded) == "local"  # auto means: whatever runs it


def test_the_state_records_the_backend_and_the_set_overrides_privately(project: Path) -> None:
    from stagectl.stack import remembered_stack

    loaded = context.get_project()
    remember_backend(backend_for("local"))
    path = loaded.state_dir / "backend"
    assert path.stat().st_mode & 0o777 == 0o600, "an override may be a secret"
    assert remembered_stack(loaded) == {"backend": "local", "overrides": {"DB_PORT": "6001"}}


def test_a_later_command_without_set_sees_the_overrides_the_stack_was_started_with(project: Path) -> None:
    """Fault: `stagectl smoke` after `up --set DB_PORT=6001` expects the env file's 6000."""
    remember_backend(backend_for("local"))
    context.reset(project_dir=project, env_file=project / "other.env", overrides={})
    assert context.get_project().stack.services["db"].port == 6001
    context.reset(project_dir=project, env_file=project / "other.env", overrides={"DB_PORT": "6002"})
    assert context.get_project().stack.services["db"].port == 6002  # this invocation's --set wins
