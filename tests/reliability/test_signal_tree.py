"""Freezing a service reaches children that left its process group (as PostgreSQL's backends do)."""

import signal
import subprocess
import sys
import time

import psutil

from stagectl.process import signal_tree

# A parent in its own group whose child calls setsid(), like a postmaster and its backends.
PARENT = """
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(60)"])
time.sleep(60)
"""


def _status(pid: int) -> str:
    return psutil.Process(pid).status()


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_sigstop_and_sigcont_reach_a_child_in_its_own_session():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], start_new_session=True)
    try:
        assert _wait_for(lambda: len(psutil.Process(parent.pid).children()) == 1)
        child = psutil.Process(parent.pid).children()[0]
        assert _wait_for(lambda: child.pid != parent.pid and __import__("os").getpgid(child.pid) != parent.pid)

        signal_tree(parent.pid, parent.pid, signal.SIGSTOP)
        assert _wait_for(lambda: _status(parent.pid) == psutil.STATUS_STOPPED)
        assert _wait_for(lambda: _status(child.pid) == psutil.STATUS_STOPPED)

        signal_tree(parent.pid, parent.pid, signal.SIGCONT)
        assert _wait_for(lambda: _status(child.pid) != psutil.STATUS_STOPPED)
        assert _wait_for(lambda: _status(parent.pid) != psutil.STATUS_STOPPED)
    finally:
        for proc in [*psutil.Process(parent.pid).children(recursive=True), psutil.Process(parent.pid)]:
            proc.kill()
        parent.wait(timeout=10)
