"""fork_detached: the local backend's supervisor is forked from the CLI. These are the properties
the backend relies on; each test names the fault it catches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from stagectl.process import fork_detached


def test_exit_code_log_session_title_and_environment(tmp_path: Path):
    log = tmp_path / "logs" / "child.log"

    def child() -> int:
        print(f"sid={os.getsid(0)} pid={os.getpid()} var={os.environ.get('FORK_TEST_VAR')}")
        time.sleep(0.5)
        return 7

    handle = fork_detached(child, title="stagectl test-child", log_path=log, env={"FORK_TEST_VAR": "set"})
    time.sleep(0.2)
    assert " ".join(psutil.Process(handle.pid).cmdline()).startswith("stagectl test-child")  # not the CLI's argv
    assert handle.poll() is None
    assert handle.wait(timeout=10) == 7
    text = log.read_text()
    assert f"sid={handle.pid} pid={handle.pid}" in text  # its own session (Ctrl-C in the CLI's terminal misses it)
    assert "var=set" in text and os.environ.get("FORK_TEST_VAR") is None  # env only in the child


def test_a_crash_in_the_child_is_logged_and_exits_70(tmp_path: Path):
    log = tmp_path / "child.log"

    def child() -> int:
        raise RuntimeError("supervisor blew up")

    handle = fork_detached(child, title="stagectl test-child", log_path=log, env={})
    assert handle.wait(timeout=10) == 70
    assert "RuntimeError: supervisor blew up" in log.read_text()


def test_the_cli_pipe_ends_when_the_cli_exits_though_the_child_lives(tmp_path: Path):
    """Fault: the child keeps an inherited descriptor (the harness's pipe, the project lock) open,
    so `subprocess.run(["stagectl", "up"], capture_output=True)` hangs until `down`."""
    script = textwrap.dedent(f"""
        import time, sys
        from pathlib import Path
        from stagectl.process import fork_detached
        extra = open({str(tmp_path / "held.txt")!r}, "w")  # an inherited descriptor above 2
        h = fork_detached(lambda: time.sleep(30) or 0, title="stagectl test-child",
                          log_path=Path({str(tmp_path / "c.log")!r}), env={{}})
        print(h.pid, flush=True)
    """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    child_pid = int(done.stdout.split()[0])
    try:
        assert time.monotonic() - started < 15  # EOF came with the parent's exit, not the child's
        assert psutil.pid_exists(child_pid)
        assert not any(f.path == str(tmp_path / "held.txt") for f in psutil.Process(child_pid).open_files())
    finally:
        os.kill(child_pid, signal.SIGKILL)
