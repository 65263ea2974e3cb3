"""`down` on stale state: reaps recorded groups, and exits 5 (keeping the state) when one survives."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from stagectl.backends.base import BackendContext
from stagectl.backends.local.backend import LocalBackend
from stagectl.config.model import Stack
from stagectl.errors import ExitCode, TeardownError
from stagectl.state import StateStore

STACK = Stack.model_validate({"version": 1, "project": "p", "services": {
    "a": {"runner": "command", "command": ["x"], "port": 1, "container_port": 1, "healthcheck": {"probe": "tcp"}}}})


@pytest.fixture
def orphan():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _stale_state(tmp_path, proc) -> LocalBackend:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    StateStore(tmp_path).write({"run_id": "r-test", "owner_pid": dead.pid, "phase": "up", "services": {
        "a": {"pid": proc.pid, "pgid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(), "grace": 1.0}}})
    return LocalBackend(BackendContext(STACK, {}, tmp_path, tmp_path))


def test_down_reaps_a_dead_owners_leftover(tmp_path, orphan):
    backend = _stale_state(tmp_path, orphan)
    assert backend.status()[0].state == "stale"
    result = backend.down()
    assert result.stopped == ["a"] and not result.leftovers
    assert orphan.wait(timeout=5) is not None
    assert StateStore(tmp_path).read() is None


def test_down_exits_5_and_keeps_state_when_something_survives(tmp_path, orphan, monkeypatch):
    backend = _stale_state(tmp_path, orphan)
    monkeypatch.setattr("stagectl.backends.local.backend.stop_group", lambda *a, **k: "killed")  # a stop that fails
    monkeypatch.setattr("stagectl.backends.local.backend.sweep_run_id", lambda *a, **k: [])
    with pytest.raises(TeardownError) as raised:
        backend.down()
    assert raised.value.exit_code == ExitCode.TEARDOWN and "a" in raised.value.message
    assert orphan.poll() is None  # really still running
    assert StateStore(tmp_path).read() is not None  # kept, so the next down can retry
