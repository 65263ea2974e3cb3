"""State file: atomic updates, the operation lock, stale-owner detection."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from stagectl.errors import PreflightError
from stagectl.state import StateStore, config_hash, owner_alive


def test_update_merges_and_survives_reread(tmp_path):
    store = StateStore(tmp_path)
    store.write({"run_id": "r1", "services": {}})
    store.update_service("pg", pid=12, port=5)
    store.update_service("pg", ready_s=0.5)
    assert store.read()["services"]["pg"] == {"pid": 12, "port": 5, "ready_s": 0.5}
    assert not list(tmp_path.glob(".state.*.tmp"))  # no temp files left behind


def test_second_operation_lock_fails_fast_naming_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from stagectl.state import StateStore\n"
         "with StateStore(sys.argv[1]).operation_lock():\n print('locked', flush=True); time.sleep(30)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(PreflightError, match=f"locked by pid {holder.pid}"):
            with StateStore(tmp_path).operation_lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with StateStore(tmp_path).operation_lock():  # released by the kernel after kill -9
        pass


def test_owner_alive_detects_dead_and_reused_pids():
    me = psutil.Process()
    assert owner_alive({"owner_pid": me.pid, "owner_create_time": me.create_time()})
    assert not owner_alive({"owner_pid": me.pid, "owner_create_time": me.create_time() - 100})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not owner_alive({"owner_pid": dead.pid})


def test_config_hash_changes_with_content():
    assert config_hash({"a": 1}) == config_hash({"a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
