"""Logs outlive the run (issue 14 trap): a new `up` starts the dashboard's JSON log empty and keeps
the previous run's file as `.1`, so a secret leaked by an old run cannot fail a clean one."""

from __future__ import annotations

import socket
import sys

import pytest

from stagectl.backends.base import BackendContext
from stagectl.backends.local.backend import LocalBackend
from stagectl.backends.local.logrotate import rotate_run_logs
from stagectl.config.model import Stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stack() -> Stack:
    port = _free_port()
    return Stack.model_validate({"version": 1, "project": "p", "services": {
        "a": {"runner": "command", "command": [sys.executable, "-c", "pass"], "port": port, "container_port": port,
              "healthcheck": {"probe": "tcp"}}}})
OLD_LINE = '{"msg": "leaked hunter2-old-run-secret"}\n'


class _Stop(Exception):
    pass


def test_up_rotates_the_previous_runs_json_log(tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "dashboard.json.log").write_text(OLD_LINE)
    (logs / "supervisor.log").write_text("supervisor lines stay\n")
    backend = LocalBackend(BackendContext(_stack(), {}, tmp_path, tmp_path))

    def no_supervisor(run_id):
        raise _Stop  # everything before the spawn has run
    monkeypatch.setattr(backend, "_spawn_supervisor", no_supervisor)
    with pytest.raises(_Stop):
        backend.up(wait_timeout=1)
    assert not (logs / "dashboard.json.log").exists(), "the new run would read the old run's lines"
    assert (logs / "dashboard.json.log.1").read_text() == OLD_LINE  # kept for `logs`/post-mortems
    assert (logs / "supervisor.log").read_text() == "supervisor lines stay\n"


def test_one_generation_is_kept_and_empty_files_are_left(tmp_path):
    (tmp_path / "dashboard.json.log.1").write_text("two runs ago\n")
    (tmp_path / "dashboard.json.log").write_text("last run\n")
    (tmp_path / "other.json.log").write_text("")
    assert rotate_run_logs(tmp_path) == [tmp_path / "dashboard.json.log.1"]
    assert (tmp_path / "dashboard.json.log.1").read_text() == "last run\n"
    assert (tmp_path / "other.json.log").exists()


def test_missing_logs_dir_is_nothing_to_rotate(tmp_path):
    assert rotate_run_logs(tmp_path / "absent") == []
