"""The backend contract and the compose-specific argv/edge cases, against the fake `docker`.

Reliability rows 25 (no engine / no compose plugin → exit 4) and 26 (`up` fails → we run `down`).
"""

from __future__ import annotations

import json
import re
import signal
import time

import pytest
from contract import BackendContract, Scenario
from fakedocker import SECRET, SPEC, FakeDocker

from stagectl.backends.compose import parse_ps
from stagectl.errors import ExitCode, PreflightError, StagectlError, UnhealthyError

NO_ENGINE = {"stderr": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n", "rc": 1}
NO_PLUGIN = {"stderr": "unknown flag: --file\nSee 'docker --help'.\n", "rc": 125}
DIAGNOSTIC = {"ps", "logs"}  # read-only compose calls


class ComposeHarness:
    """ContractHarness for the compose backend: the world is the fake docker's state file."""

    services = list(SPEC)
    wait_timeout = 5.0
    short_timeout = 0.4
    log_marker = "still waiting"

    def __init__(self, fake: FakeDocker):
        self.fake = fake

    def backend(self, scenario: Scenario):
        services = {}
        if scenario.never_healthy:
            services[scenario.never_healthy] = {"health": "never"}
        if scenario.crashes:
            services[scenario.crashes] = {"exit": 1, "exit_after": 2}
        rules = [{"match": ["version"], "responses": [NO_ENGINE]}] if scenario.preflight_fails else []
        self.fake.script(rules=rules, services=services)
        return self.fake.backend()

    def running_services(self) -> set[str]:
        return {n for n, c in self.fake.world()["containers"].items() if c["state"] in ("running", "paused")}

    def data_exists(self) -> bool:
        return bool(self.fake.world()["volumes"])


@pytest.fixture
def fake(tmp_path, monkeypatch) -> FakeDocker:
    return FakeDocker(tmp_path, monkeypatch)


class TestComposeContract(BackendContract):
    @pytest.fixture
    def harness(self, fake):
        return ComposeHarness(fake)


# -- row 25: the environment cannot run compose ---------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"match": ["version"], "responses": [NO_ENGINE]}], "no Docker engine answers"),
        ([{"match": ["compose", "version"], "responses": [NO_PLUGIN]}], "Compose v2 plugin missing"),
        ([{"match": ["version"], "responses": [{"stdout": '{"Client": {"Version": "28"}, "Server": null}'}]}], "no Docker engine answers"),
        ([{"match": ["compose", "version"], "responses": [{"stdout": "docker-compose version 1.29.2"}]}], "Compose v2 plugin missing"),
    ],
)
def test_preflight_maps_docker_failures_to_exit_4(fake, rules, expected):
    fake.script(rules=rules)
    with pytest.raises(PreflightError) as info:
        fake.backend().preflight()
    assert expected in info.value.message and info.value.exit_code == ExitCode.PREFLIGHT
    assert "--backend local" in info.value.hint
    assert info.value.__cause__ is None and (info.value.__context__ is None or info.value.__suppress_context__), "no chained traceback"


def test_missing_docker_cli_is_exit_4(fake):
    fake.script()
    backend = fake.backend()
    backend.docker.client_config.client_call = ["no-such-docker-binary-here"]
    with pytest.raises(PreflightError, match="docker CLI not found"):
        backend.preflight()


def test_missing_compose_file_is_exit_4_before_docker_is_asked(fake):
    fake.script()
    (fake.root / "compose" / "docker-compose.staging.yml").unlink()
    with pytest.raises(PreflightError, match="docker-compose.staging.yml not found") as info:
        fake.backend().preflight()
    assert "stagectl render" in info.value.hint
    assert fake.calls() == []


def test_no_engine_during_up_is_exit_4_and_nothing_else_is_tried(fake):
    fake.script(rules=[{"match": ["compose"], "responses": [NO_ENGINE]}, {"match": ["container"], "responses": [NO_ENGINE]}])
    with pytest.raises(PreflightError, match="no Docker engine answers"):
        fake.backend().up(wait_timeout=1)
    assert [argv[:2] for argv in fake.calls()] == [["container", "list"]]  # the status before `up`, then nothing


# -- row 26 and the wait engine -------------------------------------------------------------------


def test_failed_up_is_followed_by_down_without_volumes(fake):
    not_healthy = {"stderr": "application not healthy after 3s\n", "rc": 1}
    fake.script(rules=[{"match": ["compose", "up"], "responses": [not_healthy]}])
    with pytest.raises(UnhealthyError) as info:
        fake.backend().up(wait_timeout=5)
    assert "application not healthy after 3s" in info.value.message
    assert info.value.message.startswith(("db: no container", "cache: no container")), "names a root cause"
    subs = fake.compose_subcommands()
    after_up = subs[subs.index("up") + 1 :]
    mutating = [s for s in after_up if s not in DIAGNOSTIC]
    assert mutating == ["down"], subs  # diagnosis may read ps/logs first; the next action is down
    down_argv = next(a for a in fake.calls() if "down" in a)
    assert "--volumes" not in down_argv and "--remove-orphans" in down_argv


def test_up_argv_uses_file_env_file_project_and_no_wait_flag(fake):
    fake.script()
    backend = fake.backend()
    backend.up(wait_timeout=5)
    up = next(a for a in fake.calls() if "up" in a)
    expected_prefix = [
        "compose",
        "--file", str(backend.compose_file),
        "--env-file", str(fake.root / "compose" / ".env.staging"),  # rendered, non-secret values first
        "--env-file", str(fake.root / ".env.staging"),  # the real one (secrets) wins
        "--project-name", "ct-proj",
        "up",
    ]
    assert up[: len(expected_prefix)] == expected_prefix
    assert "--detach" in up and "--wait" not in up
    backend.down()


def test_health_that_changes_over_successive_inspects_is_waited_for(fake):
    def listing(health: str) -> dict:
        rows = [{"Name": f"/ct-proj-{n}-1", "State": {"Status": "running", "Health": {"Status": health}},
                 "Config": {"Labels": {"com.docker.compose.service": n}}} for n in SPEC]
        return {"stdout": json.dumps(rows)}

    fake.script(rules=[{"match": ["container", "inspect"], "responses": [listing("starting"), listing("starting"), listing("healthy")]}])
    result = fake.backend().up(wait_timeout=5)
    inspects = [a for a in fake.calls() if a[:2] == ["container", "inspect"]]
    assert len(inspects) == 3  # one listing per round for all services (before `up` there was no container)
    assert all(s.healthy for s in result.services) and not result.unchanged


def test_root_cause_is_the_dependency_not_its_waiting_dependent(fake):
    fake.script(services={"db": {"health": "unhealthy"}, "api": {"health": "never"}})
    with pytest.raises(UnhealthyError) as info:
        fake.backend().up(wait_timeout=5)
    assert info.value.message.startswith("db: unhealthy: the engine's healthcheck failed its retries")


def test_unhealthy_message_masks_secrets_from_logs(fake):
    fake.script(services={"cache": {"health": "never"}})
    with pytest.raises(UnhealthyError) as info:
        fake.backend().up(wait_timeout=0.3)
    assert "cache password=****" in info.value.message
    assert SECRET not in info.value.message


def test_second_up_on_a_healthy_stack_is_unchanged(fake):
    fake.script(services={n: {"healthy_after": 1} for n in SPEC})
    backend = fake.backend()
    assert backend.up(wait_timeout=5).unchanged is False
    assert backend.up(wait_timeout=5).unchanged is True
    backend.down()


def test_wait_deadline_is_global(fake):
    fake.script(services={"api": {"health": "never"}})
    began = time.monotonic()
    with pytest.raises(UnhealthyError) as err:
        fake.backend(poll_interval=0.05).up(wait_timeout=0.5)
    assert time.monotonic() - began < 3
    # the message says how long it really waited: the deadline plus at most the round in flight
    waited = re.match(r"not healthy after (\d+\.\d+)s \(--wait-timeout\)", err.value.message)
    assert waited and 0.5 <= float(waited[1]) < 1.5, err.value.message


def test_wait_engine_runs_on_an_injected_clock_and_is_bounded_in_polls(fake):
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    fake.script(services={"api": {"health": "never"}})
    backend = fake.backend(poll_interval=5.0, clock=lambda: now[0], sleep=sleep)
    with pytest.raises(UnhealthyError, match=r"(?s)not healthy after 30\.0s .*\n  api holds the others up"):
        backend.up(wait_timeout=30)
    assert sum(slept) == 30  # waited exactly to the deadline, in virtual time
    inspects = [a for a in fake.calls() if a[:2] == ["container", "inspect"]]
    assert len(inspects) <= 30 / 5 + 1  # one listing per round


# -- signals, logs, down ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "expected"),
    [
        (signal.SIGSTOP, ["pause", "db"]),
        (signal.SIGCONT, ["unpause", "db"]),
        (signal.SIGTERM, ["stop", "db"]),
        (signal.SIGKILL, ["kill", "--signal", "SIGKILL", "db"]),
    ],
)
def test_signal_maps_to_compose_commands(fake, sig, expected):
    fake.script()
    backend = fake.backend()
    backend.up(wait_timeout=5)
    backend.signal("db", sig)
    assert fake.calls()[-1][-len(expected) :] == expected


def test_the_services_own_stop_signal_is_a_compose_stop(fake):
    """Fault: PostgreSQL's SIGINT sent as `kill -s SIGINT`: the container exits and its restart
    policy (unless-stopped) brings it back at once, so a chaos 'database down' never happens."""
    db = fake.stack.services["db"].model_copy(update={"stop_signal": "SIGINT"})
    fake.stack.services["db"] = db
    fake.script()
    backend = fake.backend()
    backend.up(wait_timeout=5)
    backend.signal("db", signal.SIGINT)
    assert fake.calls()[-1][-2:] == ["stop", "db"]
    backend.signal("cache", signal.SIGINT)  # not cache's stop signal: delivered as such
    assert fake.calls()[-1][-4:] == ["kill", "--signal", "SIGINT", "cache"]


def test_follow_logs_is_refused_with_a_hint(fake):
    fake.script()
    with pytest.raises(StagectlError) as info:
        fake.backend().logs("db", follow=True)
    assert "logs -f db" in info.value.hint


def test_down_volumes_flag_only_when_asked(fake):
    fake.script()
    backend = fake.backend()
    backend.down()
    backend.down(volumes=True)
    downs = [a for a in fake.calls() if "down" in a]
    assert ["--volumes" in a for a in downs] == [False, True]


def test_garbage_from_the_engine_is_an_error_not_a_traceback(fake):
    backend = fake.backend()
    fake.script(rules=[{"match": ["container", "list"], "responses": [{"stdout": "c1\n"}]},
                       {"match": ["container", "inspect"], "responses": [{"stdout": "WARNING: something odd"}]}])
    with pytest.raises(StagectlError, match="unexpected output from docker container inspect"):
        backend.status()


def test_parse_ps_reads_json_lines_and_the_older_array_form():
    rows = [{"Service": "db", "State": "running"}, {"Service": "api", "State": "exited"}]
    lines = "\n".join(json.dumps(r) for r in rows)
    assert parse_ps(lines) == parse_ps(json.dumps(rows)) == {"db": rows[0], "api": rows[1]}
    assert parse_ps("  \n") == {}


def test_set_overrides_reach_compose_as_the_last_env_file_and_stay_private(fake):
    """Fault: `stagectl --set X=… up --backend compose` silently running with the env file's X."""
    import dataclasses

    from stagectl.backends.compose import ComposeBackend

    fake.ctx = dataclasses.replace(fake.ctx, overrides={"HEALTH_CHECK_INTERVAL": "1", "POSTGRES_PASSWORD": SECRET})
    fake.script()
    backend = fake.backend()
    backend.up(wait_timeout=5)
    up = next(a for a in fake.calls() if "up" in a)
    env_files = [up[i + 1] for i, arg in enumerate(up) if arg == "--env-file"]
    overrides = fake.ctx.state_dir / "run" / "compose-overrides.env"
    assert env_files == [str(fake.root / "compose" / ".env.staging"), str(fake.root / ".env.staging"), str(overrides)]
    assert overrides.read_text() == f"HEALTH_CHECK_INTERVAL='1'\nPOSTGRES_PASSWORD='{SECRET}'\n"
    assert overrides.stat().st_mode & 0o777 == 0o600
    backend.down()
    assert not overrides.exists()  # the values (a secret among them) leave with the stack
    fake.ctx = dataclasses.replace(fake.ctx, overrides={"S3_CORS_ORIGINS": "it's"})
    with pytest.raises(StagectlError, match="single quote") as err:
        ComposeBackend(fake.ctx)
    assert err.value.exit_code == ExitCode.USAGE


def test_no_overrides_means_no_third_env_file(fake):
    fake.script()
    backend = fake.backend()
    backend.up(wait_timeout=5)
    up = next(a for a in fake.calls() if "up" in a)
    assert up.count("--env-file") == 2
    assert not (fake.ctx.state_dir / "run" / "compose-overrides.env").exists()
    backend.down()


def test_the_global_env_file_is_the_one_compose_reads(fake):
    import dataclasses

    other = fake.root / "other.env"
    other.write_text("POSTGRES_PASSWORD=x\n")
    fake.ctx = dataclasses.replace(fake.ctx, env_path=other)
    fake.script()
    backend = fake.backend()
    backend.up(wait_timeout=5)
    up = next(a for a in fake.calls() if "up" in a)
    env_files = [up[i + 1] for i, arg in enumerate(up) if arg == "--env-file"]
    assert env_files == [str(fake.root / "compose" / ".env.staging"), str(other)]
    backend.down()


def test_a_busy_host_port_is_exit_4_naming_its_owner_before_compose_up(fake):
    """Fault: compose's own "bind: address already in use" halfway through `up` (exit 3, some
    containers created); the local backend says who holds the port before anything starts."""
    import os
    import socket

    fake.script()
    port = fake.stack.services["cache"].port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(PreflightError) as info:
            fake.backend().up(wait_timeout=5)
    assert f"port {port} for service cache is in use by pid {os.getpid()}" in info.value.message
    assert [argv[:2] for argv in fake.calls()] == [["container", "list"]], "nothing was started (nor torn down)"


def test_a_container_gone_between_listing_and_inspect_is_listed_again(fake):
    """Fault: one transient "No such container" from the inspect (a container removed between the
    listing and the inspect) ended `up`'s wait as a failed stack (seen on the real engine)."""
    gone = {"stderr": "Error response from daemon: No such container: f258e6dc7d73\n", "rc": 1}
    healthy = {"stdout": json.dumps([{"Name": f"/ct-proj-{n}-1", "State": {"Status": "running", "Health": {"Status": "healthy"}},
                                      "Config": {"Labels": {"com.docker.compose.service": n}}} for n in SPEC])}
    listed = {"stdout": "".join(f"{n}\n" for n in SPEC)}
    fake.script(rules=[{"match": ["container", "list"], "responses": [listed]},
                       {"match": ["container", "inspect"], "responses": [gone, healthy]}])
    assert all(row.healthy for row in fake.backend().status())
    assert [argv[:2] for argv in fake.calls()] == [["container", "list"], ["container", "inspect"]] * 2


def test_other_inspect_failures_are_not_retried(fake):
    broken = {"stderr": "Error response from daemon: something else\n", "rc": 1}
    listed = {"stdout": "".join(f"{n}\n" for n in SPEC)}
    fake.script(rules=[{"match": ["container", "list"], "responses": [listed]},
                       {"match": ["container", "inspect"], "responses": [broken]}])
    with pytest.raises(StagectlError, match="something else"):
        fake.backend().status()
    assert [argv[:2] for argv in fake.calls()] == [["container", "list"], ["container", "inspect"]]
