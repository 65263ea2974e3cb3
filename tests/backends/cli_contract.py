"""The CLI contract: every stack command of stagectl, run the way a user runs it (`python -m
stagectl` in the project directory, a subprocess), against each backend — so a mismatch between a
command and a backend (like `up(on_progress=...)` once raising TypeError on compose, exit 70) fails
here, and the reliability scenarios that make sense for any backend run on every one.

contract.py drives the Backend methods; this suite drives the commands on top of them. Plug a
backend in with a class-scoped `harness` fixture (see `CliHarness`); the stack it starts is shared
by the class's tests, each of which leaves it healthy (one `up` per class keeps the real engine's
part short). Scenarios that need a stack of their own (a port in use, a service that never becomes
healthy) ask the harness for a fresh project with `harness.scenario(...)`.

The stack: `db` and `web` (web depends on db). Every service prints `<UTC ISO time> <name> tick N`
every TICK_S seconds, so `logs --since`, `--tail` and `-f` have lines with real times to show.

Which command needs what: `smoke`, `chaos` and `bench` need the dashboard; this stack has none, so
each is driven to its first backend call (the status of the running stack) and must exit 4 naming
the missing dashboard — a Protocol mismatch on that path still shows. `render`, `validate`, `run`
and `report` need the whole project; they run per backend in test_cli_contract_fake.py (fake
docker) and in CI's `stagectl run` for local and compose (.ci/run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import contract
import pytest

TICK_S = 0.5
SERVICES = ["db", "web"]
_TICK = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)Z? (db|web) tick (\d+)")


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # what a failed assertion shows
        return f"exit {self.code}\n--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err[-3000:]}"


class CliHarness(Protocol):
    backend: str  # the --backend value of the first `up`
    live: bool  # False for the fake docker: its logs do not grow and carry fixed times

    def run(self, *args: str, timeout: float = 120) -> Result: ...

    def popen(self, *args: str, stdout, stderr=subprocess.DEVNULL, new_session: bool = False) -> subprocess.Popen: ...

    def running(self) -> set[str]:
        """Ground truth (processes / containers), not the backend's answer."""

    def instance(self, service: str) -> str:
        """Changes whenever the service's process/container is started again (pid, start time)."""

    def crash(self, service: str) -> None:
        """Kill the service with SIGKILL from outside stagectl."""

    def freeze(self, service: str) -> None:
        """Freeze it from outside (SIGSTOP / `docker pause`)."""

    def scenario(self, name: str, *, never_healthy: str | None = None) -> CliHarness:
        """A fresh project of its own (other project name, other free ports), not started."""

    def port(self, service: str) -> int: ...

    def cleanup(self) -> None: ...


CLI_EFFECT_S = 15.0  # a CLI command's effect shows in another CLI command's answer within this


def eventually(observe, accept, timeout: float = CLI_EFFECT_S):
    """contract.eventually with the CLI's bound (each observation here is a whole CLI run)."""
    return contract.eventually(observe, accept, timeout)


def up_left_waiting(fresh: CliHarness, harness: CliHarness, err_path: Path, *, new_session: bool = False) -> subprocess.Popen:
    """`up` of a scenario whose web never becomes healthy, once every service runs: it is waiting
    (its 120 s deadline far off), stderr going to `err_path`."""
    with open(err_path, "wb") as err:
        up = fresh.popen("up", "--backend", harness.backend, "--wait-timeout", "120", stdout=subprocess.DEVNULL,
                         stderr=err, new_session=new_session)
    eventually(fresh.running, lambda running: running == set(SERVICES), timeout=60)
    return up


def rows(h: CliHarness) -> dict[str, dict]:
    result = h.run("status", "--json")
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert doc["stagectl_version"] and doc["schema_version"] == 1
    return {r["name"]: r for r in doc["services"]}


def states(h: CliHarness) -> dict[str, str]:
    return {name: row["state"] for name, row in rows(h).items()}


def ticks(text: str) -> list[tuple[float, str, int]]:
    """(epoch time, service, n) of every tick line in `text`."""
    out = []
    for found in _TICK.finditer(text):
        at = dt.datetime.fromisoformat(found[1]).replace(tzinfo=dt.timezone.utc).timestamp()
        out.append((at, found[2], int(found[3])))
    return out


@contextlib.contextmanager
def holding(port: int) -> Iterator[int]:
    """Listen on 127.0.0.1:`port` (another program's server) while the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield os.getpid()


class CliContract:
    """Subclass with a class-scoped `harness` fixture."""

    @pytest.fixture(scope="class")
    def harness(self) -> CliHarness:  # pragma: no cover - always overridden
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def up(self, harness: CliHarness) -> Iterator[Result]:
        result = harness.run("up", "--backend", harness.backend, "--json", "--wait-timeout", "90")
        yield result
        harness.run("down", "--volumes")

    @pytest.fixture
    def stack(self, harness: CliHarness, up: Result) -> CliHarness:
        assert up.code == 0, up
        yield harness
        # every test leaves the stack healthy for the next one; a test that did not is named here
        assert all(r["healthy"] for r in rows(harness).values()), f"left unhealthy: {states(harness)}"

    # -- up, status, ps ---------------------------------------------------------------------------

    def test_up_json_lists_every_service_healthy(self, harness, up):
        """Fault: `up --json` under compose listed no service (containers have no pid)."""
        assert up.code == 0, up
        doc = json.loads(up.out)
        assert [s["name"] for s in doc["services"]] == SERVICES
        assert all(s["state"] == "healthy" and s["ready_s"] is not None for s in doc["services"]), doc
        assert harness.running() == set(SERVICES)

    def test_a_second_up_without_backend_flag_is_unchanged(self, stack):  # row 31
        before = {n: stack.instance(n) for n in SERVICES}
        again = stack.run("up", "--json")
        assert again.code == 0, again
        assert json.loads(again.out)["unchanged"] is True
        assert {n: stack.instance(n) for n in SERVICES} == before, "an unchanged up restarted a service"

    def test_status_json_status_and_ps(self, stack):
        assert states(stack) == dict.fromkeys(SERVICES, "healthy")
        for command in ("status", "ps"):
            table = stack.run(command)
            assert table.code == 0, table
            assert all(re.search(rf"\b{n}\b.*healthy", table.out) for n in SERVICES), table

    def test_stage_commands_without_a_dashboard_stop_with_a_clear_error(self, stack):
        """chaos and bench reach the backend (the running stack's status) and stop there, exit 4;
        smoke refuses a spec without a dashboard before asking the backend, exit 2."""
        for command in ("chaos", "bench"):
            result = stack.run(command)
            assert result.code == 4, f"{command}: {result}"
            assert "no running stack" in result.err and "dashboard: missing" in result.err, f"{command}: {result}"
        smoke = stack.run("smoke")
        assert smoke.code == 2 and "no service with runner: dashboard" in smoke.err, smoke

    # -- logs ---------------------------------------------------------------------------------------

    def test_logs_of_one_service_with_tail(self, stack):
        one = stack.run("logs", "db", "--tail", "1")
        assert one.code == 0, one
        assert len(one.out.splitlines()) == 1 and [s for _, s, _ in ticks(one.out)] == ["db"], one
        assert " | " not in one.out, "one service: its log as it is, no prefix"

    def test_logs_of_every_service_are_prefixed_with_the_tail_of_each(self, stack):
        both = stack.run("logs", "--tail", "2")
        assert both.code == 0, both
        lines = both.out.splitlines()
        assert len(lines) == 4, both
        assert sorted(line.split(" | ")[0].strip() for line in lines) == ["db", "db", "web", "web"], both
        assert all(line.split(" | ")[0].strip() == svc for line, (_, svc, _) in zip(lines, ticks(both.out), strict=True))

    def test_logs_since_shows_only_recent_lines_of_both(self, stack):
        if not stack.live:
            pytest.skip("fake docker: its log lines carry fixed times (the --since argv is checked in its own test)")
        earliest = min(at for at, _, _ in ticks(stack.run("logs").out))
        time.sleep(max(0.0, earliest + 3.5 - time.time()))  # lines older than the window exist
        cutoff = time.time() - 2
        recent = stack.run("logs", "--since", "2s")
        assert recent.code == 0, recent
        seen = ticks(recent.out)
        assert {svc for _, svc, _ in seen} == set(SERVICES), recent
        # the CLI computes its own cutoff a moment after ours: a line may be a little younger, never older
        assert min(at for at, _, _ in seen) >= cutoff - 0.05, "a line older than --since"
        everything = ticks(stack.run("logs").out)
        assert min(at for at, _, _ in everything) < cutoff - 1, "the test proves nothing: no older line exists"

    def test_logs_follow_two_services_interleaved(self, stack, tmp_path):
        followed = tmp_path / "followed.txt"
        with open(followed, "wb") as sink:  # a file, not a pipe nobody drains
            follower = stack.popen("logs", "-f", "db", "web", stdout=sink)
        try:
            if stack.live:
                first = eventually(lambda: ticks(followed.read_text()), lambda seen: {s for _, s, _ in seen} == set(SERVICES))
                later = eventually(lambda: ticks(followed.read_text()), lambda seen: len(seen) > len(first) + 2)
                assert {s for _, s, _ in later[len(first):]} == set(SERVICES), "new lines of both services keep coming"
            else:  # the fake's logs end at once, like a stack that stops
                assert follower.wait(timeout=30) == 0
                assert {s for _, s, _ in ticks(followed.read_text())} == set(SERVICES)
            lines = [ln for ln in followed.read_text().splitlines() if " tick " in ln]
            assert all(re.match(r"^(db |web) \| ", ln) for ln in lines), lines[:5]
        finally:
            follower.terminate()
            follower.wait(timeout=15)

    # -- exec -------------------------------------------------------------------------------------

    def test_exec_passes_the_exit_code_through(self, stack):
        assert stack.run("exec", "db", "--", "sh", "-c", "exit 7").code == 7
        ok = stack.run("exec", "web", "--", "sh", "-c", "exit 0")
        assert ok.code == 0, ok

    def test_exec_of_a_missing_command_is_exit_4(self, stack):
        missing = stack.run("exec", "db", "--", "no-such-tool-xyz")
        assert missing.code == 4, missing
        assert "no-such-tool-xyz: command not found" in missing.err, missing

    # -- per-service control ----------------------------------------------------------------------

    def test_stop_leaves_dependents_running_and_start_brings_it_back(self, stack):
        stop = stack.run("stop", "web", "--json")
        assert stop.code == 0, stop
        assert [(r["name"], r["healthy"]) for r in json.loads(stop.out)["services"]] == [("web", False)]
        eventually(stack.running, lambda running: running == {"db"})
        assert states(stack)["web"] in ("stopped", "exited")
        start = stack.run("start", "web", "--json")
        assert start.code == 0, start
        assert [(r["name"], r["state"]) for r in json.loads(start.out)["services"]] == [("web", "healthy")]
        assert stack.running() == set(SERVICES)

    def test_restart_starts_a_new_instance_of_each_named_service(self, stack):
        before = {n: stack.instance(n) for n in SERVICES}
        restart = stack.run("restart", "db", "--json")
        assert restart.code == 0, restart
        assert [(r["name"], r["state"]) for r in json.loads(restart.out)["services"]] == [("db", "healthy")]
        after = {n: stack.instance(n) for n in SERVICES}
        assert after["db"] != before["db"], "restart did not restart db"
        assert after["web"] == before["web"], "restart of db restarted its dependent too"

    def test_up_of_a_service_brings_its_dependencies(self, stack):
        stop = stack.run("stop", "web", "db")
        assert stop.code == 0, stop
        eventually(stack.running, lambda running: running == set())
        up = stack.run("up", "web", "--json")
        assert up.code == 0, up
        assert {r["name"]: r["state"] for r in json.loads(up.out)["services"]} == dict.fromkeys(SERVICES, "healthy")
        assert stack.running() == set(SERVICES)

    # -- reliability: faults from outside ----------------------------------------------------------

    def test_a_killed_service_shows_as_down_and_start_restores_it(self, stack):  # service killed
        if not stack.live:
            pytest.skip("fake docker: nothing to kill (its `kill` argv is checked in test_compose_contract.py)")
        before = stack.instance("web")
        stack.crash("web")
        eventually(lambda: rows(stack)["web"], lambda row: not row["healthy"] or stack.instance("web") != before)
        start = stack.run("start", "web")
        assert start.code == 0, start
        assert rows(stack)["web"]["healthy"] and stack.instance("web") != before

    def test_a_frozen_service_shows_paused_and_start_thaws_it(self, stack):  # service paused/frozen
        if not stack.live:
            pytest.skip("fake docker: nothing to freeze (its `pause` argv is checked in test_compose_contract.py)")
        stack.freeze("db")
        eventually(lambda: states(stack)["db"], lambda state: state == "paused")
        start = stack.run("start", "db")
        assert start.code == 0, start
        assert states(stack)["db"] == "healthy"

    # -- fresh stacks: ports, signals, teardown ---------------------------------------------------

    def test_a_port_in_use_is_exit_4_naming_its_owner_and_nothing_starts(self, harness):  # row 17
        fresh = harness.scenario("ports")
        try:
            with holding(fresh.port("web")) as owner:
                result = fresh.run("up", "--backend", harness.backend, "--wait-timeout", "60")
            assert result.code == 4, result
            assert f"port {fresh.port('web')} for service web is in use by pid {owner}" in result.err, result
            assert fresh.running() == set()
        finally:
            fresh.cleanup()

    def test_sigint_during_the_wait_tears_down_with_exit_130(self, harness, tmp_path):  # rows 13, 15
        if not harness.live:
            pytest.skip("fake docker: nothing runs to tear down (compose down after a failed up: test_compose_contract.py)")
        fresh = harness.scenario("sigint", never_healthy="web")
        try:
            up = up_left_waiting(fresh, harness, tmp_path / "up.err", new_session=True)
            os.killpg(up.pid, signal.SIGINT)
            assert up.wait(timeout=60) == 130, (tmp_path / "up.err").read_text()
            assert fresh.running() == set()
            assert fresh.run("down").code == 0
        finally:
            fresh.cleanup()

    def test_a_service_killed_during_the_wait_fails_fast_naming_it(self, harness, tmp_path):  # row 1
        if not harness.live:
            pytest.skip("fake docker: nothing to kill (a container exiting during the wait: test_compose_contract.py)")
        fresh = harness.scenario("killed", never_healthy="web")
        try:
            up = up_left_waiting(fresh, harness, tmp_path / "up.err")
            killed_at = time.monotonic()
            fresh.crash("web")
            code = up.wait(timeout=60)
            said = (tmp_path / "up.err").read_text()
            assert code == 3, said
            assert time.monotonic() - killed_at < 20, "a crash must not wait for the 120 s deadline"
            assert "web" in said and ("exit" in said or "signal 9" in said), said
            assert fresh.running() == set(), "the failed up tears down what it started"
        finally:
            fresh.cleanup()

    def test_down_with_a_frozen_service_stops_everything_and_twice_is_fine(self, harness):  # rows 12, 33
        fresh = harness.scenario("down")
        try:
            up = fresh.run("up", "--backend", harness.backend, "--wait-timeout", "90")
            assert up.code == 0, up
            if harness.live:
                fresh.freeze("db")
            down = fresh.run("down")
            assert down.code == 0, down
            assert "stopped" in down.out and all(n in down.out for n in SERVICES), down
            assert fresh.running() == set()
            # `down` forgot the stack's backend: name it, or the second down would look at local
            again = fresh.run("down", "--backend", harness.backend)
            assert again.code == 0, again
            assert "nothing to stop" in again.out, again
            status = fresh.run("status", "--json", "--backend", harness.backend)
            assert status.code == 0, status
            assert {r["name"]: r["state"] for r in json.loads(status.out)["services"]} == dict.fromkeys(SERVICES, "stopped")
        finally:
            fresh.cleanup()


REPO = Path(__file__).resolve().parents[2]


class CliRunner:
    """`python -m stagectl` in a project directory, with this checkout on PYTHONPATH."""

    def __init__(self, root: Path, env: dict[str, str] | None = None):
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'dashboard'}", "NO_COLOR": "1",
                    "COLUMNS": "200", **(env or {})}

    def run(self, *args: str, timeout: float = 120) -> Result:
        done = subprocess.run([sys.executable, "-m", "stagectl", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, stdout, stderr=subprocess.DEVNULL, new_session: bool = False) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "stagectl", *args], cwd=self.root, env=self.env, stdout=stdout,
                                stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=new_session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
