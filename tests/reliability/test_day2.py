"""Day-two operation against real processes: the restart policy (back-off, crash loop, held
services), per-service stop/start/restart/up, exec into PostgreSQL, logs of several services."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.reliability.conftest import eventually, free_port

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(120)]

FAST = {"STAGECTL_RESTART_BACKOFF": "0.1"}


def _rows(project) -> dict[str, dict]:
    result = project.run("status", "--json")
    assert result.code == 0, result.err
    return {s["name"]: s for s in json.loads(result.out)["services"]}


def test_a_crashed_service_is_restarted_by_its_policy_and_a_stopped_one_is_not(project):
    """Fault: `restart:` parsed but ignored (a crashed service stays dead), or a service stopped on
    purpose (stagectl stop, a chaos fault) brought back behind the user's back."""
    project.write({"a": project.service("a", restart="always"), "b": project.service("b", restart="no")})
    assert project.run("up", "--wait-timeout", "20", env=project.env(**FAST)).code == 0
    first_a, first_b = project.pid("a"), project.pid("b")
    project.pidfile("a").unlink()
    project.pidfile("b").unlink()
    os.kill(first_a, signal.SIGKILL)  # a crash
    os.kill(first_b, signal.SIGKILL)
    second_a = project.pid("a")
    assert second_a != first_a
    rows = eventually(lambda: (r := _rows(project))["a"]["state"] == "healthy" and r, timeout=15)
    assert rows["a"]["restarts"] == 1 and rows["a"]["pid"] == second_a
    assert rows["b"]["state"] == "exited" and "restart: no" in rows["b"]["detail"]
    assert not project.pidfile("b").exists()
    log = (project.state_dir / "logs" / "a.log").read_text()
    assert "killed by signal 9 (SIGKILL); restart 1 in 0.1s" in log

    stop = project.run("stop", "a")
    assert stop.code == 0, stop.err
    time.sleep(1.0)  # a policy restart would come within 0.1 s
    assert _rows(project)["a"]["state"] == "stopped" and project.pid("a") == second_a  # no new process
    start = project.run("start", "a", "b", "--json", timeout=60)
    assert start.code == 0, start.err
    assert [s["state"] for s in json.loads(start.out)["services"]] == ["healthy", "healthy"]
    assert project.run("down").code == 0


def test_a_service_that_keeps_crashing_gets_a_crash_loop_verdict(project):
    """Fault: endless restarts of a service that cannot run (no back-off, no verdict)."""
    project.write({"a": project.service("a", "--exit-after", "2.5", "--code", "3", restart="on-failure",
                                        start_period="5s")})
    assert project.run("up", "--wait-timeout", "20", env=project.env(**FAST)).code == 0
    rows = eventually(lambda: (r := _rows(project))["a"]["detail"].find("crash loop") >= 0 and r, timeout=60)
    assert rows["a"]["state"] == "exited" and rows["a"]["restarts"] == 5
    assert "crashed (exit 3); crash loop: 6 exits" in rows["a"]["detail"]
    time.sleep(1.0)
    assert _rows(project)["a"]["restarts"] == 5  # given up: no more restarts
    assert project.run("down").code == 0


def test_restart_and_up_of_named_services_follow_depends_on(project):
    """Fault: `up SERVICE` without its dependencies, `restart` leaving a service down or unhealthy."""
    project.write({"db": project.service("db"), "api": project.service("api", depends_on=["db"]),
                   "other": project.service("other")})
    up = project.run("up", "api", "--wait-timeout", "20")
    assert up.code == 0, up.err
    assert {n: r["state"] for n, r in _rows(project).items()} == {"db": "healthy", "api": "healthy", "other": "stopped"}
    old = project.pid("api")
    restart = project.run("restart", "api", "db", timeout=60)
    assert restart.code == 0, restart.err
    assert project.pid("api") != old
    assert all(r["state"] == "healthy" for n, r in _rows(project).items() if n != "other")
    bad = project.run("restart", "nope")
    assert bad.code == 2 and "unknown service 'nope'" in bad.err
    assert project.run("down").code == 0


def test_logs_follow_two_services_interleaved_with_prefixes(project):
    """Fault: `logs` limited to one service, or -f missing lines a second service writes."""
    project.write({"a": project.service("a"), "b": project.service("b")})
    assert project.run("up", "--wait-timeout", "20").code == 0
    old = {"a": project.pid("a"), "b": project.pid("b")}
    followed = project.dir / "followed.txt"
    with open(followed, "wb") as out:  # not project.start: its stdout.txt is rewritten by the next run
        follower = subprocess.Popen([sys.executable, "-m", "stagectl", "logs", "a", "b", "-f"], cwd=project.dir,
                                    env=project.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(1.0)
        assert project.run("restart", "a", "b", timeout=60).code == 0
        new = {n: project.pid(n) for n in ("a", "b")}
        assert new != old
        text = eventually(lambda: all(f"fake service pid {new[n]}" in followed.read_text() for n in "ab")
                          and followed.read_text(), timeout=15)
    finally:
        os.killpg(follower.pid, signal.SIGINT)
        follower.wait(timeout=10)
    assert re.search(rf"^a \| fake service pid {new['a']} ", text, re.M)
    assert re.search(rf"^b \| fake service pid {new['b']} ", text, re.M)
    assert re.search(r"^a \| got signal 15, stopping$", text, re.M) and re.search(r"^b \| got signal 15", text, re.M)
    assert "sk-canary-123" not in text
    tail = project.run("logs", "--tail", "1")  # all services, the last line of each
    assert tail.code == 0 and len(tail.out.splitlines()) == 2 and {ln[0] for ln in tail.out.splitlines()} == {"a", "b"}
    since = project.run("logs", "--since", "1h")
    assert since.code == 0 and since.out == ""  # the fake's lines carry no time: none provably recent
    assert project.run("logs", "--since", "yesterday-ish").code == 2
    assert project.run("down").code == 0


@pytest.mark.skipif(not all(shutil.which(b) for b in ("postgres", "initdb", "psql")), reason="needs postgres, initdb, psql")
def test_exec_runs_psql_in_the_postgres_service_and_passes_its_exit_code(project):
    """Fault: exec without the service's credentials, or swallowing the command's exit code."""
    port = free_port()
    project.write({"postgres": {"runner": "postgres", "port": port, "container_port": 5432, "stop_signal": "SIGINT",
                                "healthcheck": {"probe": "postgres", "timeout": "3s", "start_period": "20s"}}},
                  env_text="POSTGRES_USER=inv\nPOSTGRES_DB=inv_db\nPOSTGRES_PASSWORD=pg-canary-secret-1\n")
    up = project.run("up", "--wait-timeout", "60", timeout=90)
    assert up.code == 0, up.err
    ok = project.run("exec", "postgres", "--", "psql", "-tA", "-c", "select 40 + 2, current_user, current_database()")
    assert ok.code == 0, ok.err
    assert ok.out.strip() == "42|inv|inv_db"
    failed = project.run("exec", "postgres", "--", "psql", "-c", "select nope")
    assert failed.code == 1 and 'column "nope" does not exist' in failed.err
    code = project.run("exec", "postgres", "--", "sh", "-c", "exit 7")
    assert code.code == 7
    me = project.run("exec", "postgres", "--", "id", "-un")
    assert me.out.strip() == ("postgres" if os.geteuid() == 0 else __import__("getpass").getuser())
    missing = project.run("exec", "postgres", "--", "no-such-tool")
    assert missing.code == 4 and "no-such-tool: command not found" in missing.err
    assert "pg-canary-secret-1" not in ok.out + ok.err + failed.err
    assert project.run("down", "--volumes").code == 0
