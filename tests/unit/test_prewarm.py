"""The prewarm bootstrap: a dashboard process imports early but runs nothing until the supervisor
says go — and never runs when the supervisor goes away or the import fails."""

import subprocess
import sys
import time

from stagectl.process import prewarm_argv, send_go


def _spawn(preload, module, args):
    return subprocess.Popen(prewarm_argv(sys.executable, preload, module, args), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(child) -> tuple[bytes, bytes]:
    """Wait for the child (its stdin is already closed, so no communicate())."""
    out, err = child.stdout.read(), child.stderr.read()
    child.wait(timeout=30)
    return out, err


def test_go_runs_the_module_with_its_arguments():
    child = _spawn(["json"], "json.tool", ["--compact", "-"])  # after the go, stdin is /dev/null
    send_go(child)
    _, err = _finish(child)
    # json.tool reading an empty stdin fails with "Expecting value": proof the module really ran
    assert b"Expecting value" in err


def test_no_go_means_nothing_runs():
    """The supervisor died (stdin closed without the go byte): exit 0 without running the module."""
    child = _spawn(["json"], "this_module_does_not_exist", [])
    child.stdin.close()
    _, err = _finish(child)
    assert child.returncode == 0
    assert b"No module named" not in err  # the target module was never looked up


def test_a_failing_preload_is_a_crash_not_a_wait():
    child = _spawn(["no_such_module_for_prewarm"], "json.tool", [])
    child.stdin.close()
    _, err = _finish(child)
    assert child.returncode == 1
    assert b"No module named 'no_such_module_for_prewarm'" in err


def test_a_module_function_entry_is_called_before_the_go(tmp_path):
    """`module:function` warms the service up (e.g. the dashboard builds its app) ahead of the go."""
    marker = tmp_path / "warmed"
    (tmp_path / "warmup_probe.py").write_text(
        f"def warm():\n    open({str(marker)!r}, 'w').write('yes')\n")
    child = subprocess.Popen(prewarm_argv(sys.executable, ["warmup_probe:warm"], "json.tool", []),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    for _ in range(300):  # bounded: up to 30 s for an interpreter start on a busy machine
        if marker.exists() or child.poll() is not None:
            break
        time.sleep(0.1)
    assert marker.read_text() == "yes" and child.poll() is None  # warmed, still waiting for its go
    child.stdin.close()
    _finish(child)
    assert child.returncode == 0


def test_a_failing_warm_up_is_a_crash():
    child = _spawn(["json:no_such_function"], "json.tool", [])
    child.stdin.close()
    _, err = _finish(child)
    assert child.returncode == 1 and b"no_such_function" in err
