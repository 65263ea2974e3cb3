"""Reliability tier: real CLI, real processes, injected faults (docs: shared reliability table)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import eventually


def stop_seconds(down_output: str) -> float:
    """The duration `stagectl down` reports ("stopped: a in 1.23s")."""
    return float(down_output.rsplit(" in ", 1)[1].split("s")[0])

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(60)]


def test_up_status_down_roundtrip_is_idempotent(project):  # rows 31, 33
    project.write({"a": project.service("a", "--healthy-after", "0.2"),
                   "b": project.service("b", depends_on=["a"])})
    first = project.run("up", "--json", "--wait-timeout", "15")
    assert first.code == 0, first.err
    pids = {n: project.pid(n) for n in ("a", "b")}
    again = project.run("up", "--json")
    assert again.code == 0 and '"unchanged": true' in again.out
    assert {n: project.pid(n) for n in ("a", "b")} == pids
    status = project.run("status", "--json")
    assert '"state": "healthy"' in status.out and str(pids["a"]) in status.out
    down = project.run("down")
    assert down.code == 0 and "stopped" in down.out
    assert "clean shutdown" in (project.state_dir / "logs" / "a.log").read_text()
    assert project.run("down").out.strip() == "nothing to stop"


def test_kill_9_of_child_during_wait_fails_fast(project):  # row 1
    project.write({"a": project.service("a", "--healthy-after", "30", start_period="60s")})
    proc = project.start("up", "--wait-timeout", "25")
    os.kill(project.pid("a"), signal.SIGKILL)
    started = time.monotonic()
    code = proc.wait(timeout=20)
    assert code == 3, project.stderr()
    assert time.monotonic() - started < 5  # at once, not at the 25 s deadline
    assert "killed by signal 9" in project.stderr()


def test_crash_right_after_start_names_root_cause_and_aborts_dependents(project):  # rows 2, 8
    project.write({"a": project.service("a", "--exit-after", "0", "--code", "1"),
                   "b": project.service("b", depends_on=["a"])})
    result = project.run("up", "--wait-timeout", "20")
    assert result.code == 3
    assert "a: crashed (exit 1)" in result.err
    assert "exiting with code 1" in result.err  # the log tail of the root cause
    assert "ABORTED: prerequisite a failed" in result.err
    assert not project.pidfile("b").exists()
    assert result.elapsed < 8


def test_never_healthy_times_out_with_last_probe(project):  # row 3
    project.write({"a": project.service("a", "--never-healthy", start_period="60s")})
    result = project.run("up", "--wait-timeout", "2")
    assert result.code == 3
    assert "not healthy after" in result.err and "503" in result.err
    assert 2 <= result.elapsed < 8


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_wait_tears_down(project, sig, code):  # rows 13, 15
    project.write({"a": project.service("a", "--never-healthy", start_period="60s"),
                   "b": project.service("b")})
    proc = project.start("up", "--wait-timeout", "30")
    eventually(lambda: "a: waiting" in project.stderr())
    pid = project.pid("a")
    os.killpg(proc.pid, sig)
    assert proc.wait(timeout=15) == code
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_second_sigint_kills_without_waiting_for_grace(project):  # row 14
    project.write({"a": project.service("a", "--never-healthy", "--ignore-sigterm", grace="10s", start_period="60s")})
    proc = project.start("up", "--wait-timeout", "30")
    eventually(lambda: "a: waiting" in project.stderr())
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=15) == 130
    assert time.monotonic() - started < 3


def test_child_ignoring_sigterm_is_killed_after_grace(project):  # row 9
    project.write({"a": project.service("a", "--ignore-sigterm", grace="1s")})
    assert project.run("up", "--wait-timeout", "15").code == 0
    down = project.run("down")
    assert down.code == 0
    assert stop_seconds(down.out) < 1 + 2  # the stop itself; interpreter start-up is not part of it
    assert "ignoring it" in (project.state_dir / "logs" / "a.log").read_text()


def test_stopped_child_gets_sigcont_then_sigterm(project):  # row 12
    project.write({"a": project.service("a", grace="5s")})
    assert project.run("up", "--wait-timeout", "15").code == 0
    os.kill(project.pid("a"), signal.SIGSTOP)
    down = project.run("down")
    assert down.code == 0 and stop_seconds(down.out) < 4  # not SIGKILLed at the 5 s grace
    log = (project.state_dir / "logs" / "a.log").read_text()
    assert "got signal 15" in log and "clean shutdown" in log


def test_escaped_grandchild_is_swept(project):  # row 10
    project.write({"a": project.service("a", "--spawn-detached-child", grace="1s")})
    assert project.run("up", "--wait-timeout", "15").code == 0
    log = project.state_dir / "logs" / "a.log"
    child = int(eventually(lambda: "child pid" in log.read_text() and log.read_text().split("child pid ")[1].split()[0]))
    down = project.run("down")
    assert down.code == 0 and stop_seconds(down.out) < 1 + 2
    eventually(lambda: not os.path.exists(f"/proc/{child}"), timeout=3)


def test_busy_port_fails_before_anything_starts(project):  # row 17
    project.write({"a": project.service("a"), "b": project.service("b")})
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", project.ports["b"]))
        holder.listen()
        result = project.run("up")
    assert result.code == 4
    assert f"port {project.ports['b']} for service b is in use by pid {os.getpid()}" in result.err
    assert not project.pidfile("a").exists()


def test_missing_binary_names_service_and_install_command(project):  # row 19
    project.write({"a": project.service("a", command=["does-not-exist-xyz"]),
                   "prom": {**project.service("prom"), "runner": "prometheus", "command": None}})
    result = project.run("up", env=project.env(PATH="/nonexistent"))
    assert result.code == 4
    assert "service a: command 'does-not-exist-xyz' not found" in result.err
    assert "apt-get install -y --no-install-recommends prometheus" in result.err


def test_bad_shebang_is_a_preflight_error(project):  # row 20
    script = project.dir / "svc.sh"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    project.write({"a": project.service("a", command=[str(script)])})
    result = project.run("up")
    assert result.code == 4 and "bad interpreter '/no/such/interpreter'" in result.err


def test_corrupt_env_file_is_a_config_error(project):  # row 21
    project.write({"a": project.service("a")}, env_text="GOOD=1\nAPI_TOKEN='sk-canary-123\n")
    result = project.run("up")
    assert result.code == 2
    assert ".env.staging:2" in result.err
    assert "sk-canary-123" not in result.err + result.out
    assert not project.pidfile("a").exists()


def test_missing_env_file_hints_init(project):
    project.write({"a": project.service("a")})
    (project.dir / ".env.staging").unlink()
    result = project.run("up")
    assert result.code == 2 and "stagectl init" in result.err


@pytest.mark.parametrize("next_command", ["down", "up"])
def test_stale_state_after_supervisor_kill_9(project, next_command):  # rows 16, 30
    # a ignores SIGTERM, so it survives its parent-death signal: a real leftover to reap
    project.write({"a": project.service("a", "--ignore-sigterm"), "b": project.service("b")})
    assert project.run("up", "--wait-timeout", "15").code == 0
    old_run, survivor = project.state()["run_id"], project.pid("a")
    os.kill(project.state()["owner_pid"], signal.SIGKILL)
    status = project.run("status", "--json")
    assert status.out.count('"state": "stale"') == 2
    assert os.path.exists(f"/proc/{survivor}")
    assert project.run(next_command).code == 0  # reaps the dead owner's leftovers first
    assert not os.path.exists(f"/proc/{survivor}") or open(f"/proc/{survivor}/stat").read().split()[2] == "Z"
    if next_command == "up":
        assert project.state()["run_id"] != old_run
        assert project.run("status", "--json").out.count('"state": "healthy"') == 2
        assert project.run("down").code == 0
    assert not (project.state_dir / "state.json").exists()


def test_second_concurrent_up_fails_fast(project):  # row 29
    project.write({"a": project.service("a", "--healthy-after", "3")})
    first = project.start("up", "--wait-timeout", "20")
    eventually(lambda: "a: waiting" in project.stderr())
    second = project.run("up")  # its output replaces the files; the first has already written its marker
    assert second.code == 4 and f"project locked by pid {first.pid}" in second.err
    assert first.wait(timeout=20) == 0
    assert project.run("down").code == 0


def test_data_survives_down_and_volumes_removes_it(project):  # row 34
    project.write({"a": project.service("a")})
    assert project.run("up").code == 0
    (project.state_dir / "data" / "a" / "count").write_text("1")
    assert project.run("down").code == 0
    assert (project.state_dir / "data" / "a" / "count").exists()
    assert project.run("down", "--volumes").code == 0
    assert not (project.state_dir / "data").exists()


def test_secrets_never_printed(project):  # row 24
    project.write({"a": project.service("a", "--exit-after", "0", "--code", "3",
                                        command=None)})
    result = project.run("up")
    assert result.code == 3
    assert "sk-canary-123" not in result.out + result.err


def test_signal_and_restart_one_service_through_the_backend_api(project):  # chaos restore path
    from stagectl.backends.local import from_project
    from stagectl.config.loader import load_project

    project.write({"a": project.service("a"), "b": project.service("b", depends_on=["a"])})
    assert project.run("up", "--wait-timeout", "15").code == 0
    backend = from_project(load_project(project.dir))
    first = project.pid("a")
    project.pidfile("a").unlink()
    backend.signal("a", signal.SIGTERM)
    eventually(lambda: {r.name: r.state for r in backend.status(probe=False)}["a"] == "exited")
    row = backend.start("a", wait_timeout=10)
    assert row.state == "healthy" and row.pid != first and row.pid == project.pid("a")
    assert project.run("down").code == 0


def test_chatty_service_log_stays_bounded(project):  # row 40
    limit = 256 * 1024
    project.write({"a": project.service("a", "--spew-mb", "2", "--healthy-after", "1")})
    result = project.run("up", "--wait-timeout", "15", env=project.env(STAGECTL_LOG_MAX_BYTES=str(limit)))
    assert result.code == 0, result.err
    log = project.state_dir / "logs" / "a.log"
    time.sleep(1.5)  # ~3 MB written by now
    assert log.stat().st_size <= limit + 2 * 1024 * 1024 * 0.3  # limit + what one check interval can add
    assert Path(f"{log}.1").is_file() and Path(f"{log}.1").stat().st_size <= limit
    assert project.run("down").code == 0


def test_missing_optional_service_is_skipped_with_reason(project):
    project.write({"a": project.service("a"),
                   "extra": project.service("extra", command=["no-such-exporter-xyz"], optional=True, depends_on=["a"])})
    result = project.run("up", "--json", "--wait-timeout", "15")
    assert result.code == 0, result.err
    assert "command 'no-such-exporter-xyz' not found" in result.out  # the skip reason
    assert '"name": "extra"' not in result.out  # never started
    status = project.run("status", "--json")
    assert '"state": "skipped"' in status.out
    assert project.run("down").code == 0


def test_logs_tail_and_secrets_masked(project):  # row 24
    project.write({"a": project.service("a", "--echo-env", "API_TOKEN")})
    assert project.run("up", "--wait-timeout", "15").code == 0
    raw = (project.state_dir / "logs" / "a.log").read_text()
    assert "sk-canary-123" in raw  # the service really logged it ...
    logs = project.run("logs", "a")
    assert logs.code == 0 and "API_TOKEN is ****" in logs.out and "sk-canary-123" not in logs.out  # ... we never show it
    tail = project.run("logs", "a", "--tail", "1")
    assert tail.out.strip() == "API_TOKEN is ****"
    assert project.run("down").code == 0


def test_logs_follow_streams_new_lines_and_ends_with_the_stack(project):
    project.write({"a": project.service("a", "--spew-mb", "0.05")})
    assert project.run("up", "--wait-timeout", "15").code == 0
    followed = project.dir / "followed.txt"
    with open(followed, "wb") as sink:  # a file, not a pipe nobody drains
        follower = subprocess.Popen([sys.executable, "-m", "stagectl", "logs", "a", "-f"], cwd=project.dir,
                                    env=project.env(), stdout=sink, stderr=subprocess.DEVNULL)
    try:
        before = eventually(lambda: followed.read_text().count("\nx"), timeout=10)
        eventually(lambda: followed.read_text().count("\nx") > before, timeout=5)  # new lines keep coming
        assert project.run("down").code == 0
        assert follower.wait(timeout=5) == 0  # the stack is gone: follow ends by itself
    finally:
        follower.kill()
        follower.wait()


def test_kill_stops_everything_without_grace(project):  # run's second Ctrl-C during teardown
    from stagectl.backends.local import from_project
    from stagectl.config.loader import load_project

    project.write({"a": project.service("a", "--ignore-sigterm", grace="30s"),
                   "b": project.service("b", "--ignore-sigterm", grace="30s", depends_on=["a"])})
    assert project.run("up", "--wait-timeout", "15").code == 0
    pids = [project.pid("a"), project.pid("b"), project.state()["owner_pid"]]
    started = time.monotonic()
    from_project(load_project(project.dir)).kill()
    eventually(lambda: not any(_alive(pid) for pid in pids), timeout=5)
    assert time.monotonic() - started < 5  # no 30 s grace for services that ignore SIGTERM
    assert project.run("down").code == 0  # the leftover state is reaped cleanly


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
