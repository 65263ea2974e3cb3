"""The CLI contract (cli_contract.py) against the fake `docker` (tests/backends/fake-docker on
PATH as `docker`), plus the commands that need the whole project — render, validate, run, report —
through the compose backend, so a mismatch between a command and the compose backend shows without
an engine (as `run --backend compose` once died with exit 70 on `up(on_progress=...)`).

What the fake cannot show, and where it is shown instead: it runs nothing, so a killed or frozen
service, `logs --since` and a live `logs -f` are skips here (counted as such) and run on the real
engine in test_cli_contract_engine.py; smoke, chaos and bench on the whole stack need a live
dashboard: here `run` is driven to a failing `up` (exit 3, teardown, report), and the full
pipeline on the real engine is CI's `stagectl run --backend compose`.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from cli_contract import REPO, SERVICES, CliContract, CliRunner, free_port

from stagectl.backends.compose import COMPOSE_FILE

FAKE = Path(__file__).with_name("fake-docker")
pytestmark = pytest.mark.timeout(600)  # the whole-project tests may wait for the e2e lock


def fake_docker_env(tmp: Path, services: dict) -> dict[str, str]:
    """Environment with the fake as `docker` on PATH, scripted with `services`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "docker"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKE}" "$@"\n')
    shim.chmod(0o755)
    script = tmp / "script.json"
    script.write_text(json.dumps({"rules": [], "services": services, "volumes": ["data"]}))
    import os

    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_DOCKER_LOG": str(tmp / "argv.jsonl"),
            "FAKE_DOCKER_SCRIPT": str(script), "FAKE_DOCKER_STATE": str(tmp / "state.json"),
            "STAGECTL_COMPOSE_IMAGES": "upstream"}


def tick_lines(name: str) -> str:
    return "\n".join(f"2026-12-05T00:00:{i:02d}.000000Z {name} tick {i}" for i in range(1, 4))


class FakeCliHarness(CliRunner):
    backend = "compose"
    live = False

    def __init__(self, root: Path, name: str = "cli"):
        (root / "compose").mkdir(parents=True)
        self.ports = {n: free_port() for n in SERVICES}
        spec = {n: {"runner": "command", "command": ["true"], "image": "busybox:1", "port": self.ports[n],
                    "container_port": 8000, "depends_on": ["db"] if n == "web" else [],
                    "healthcheck": {"probe": "tcp", "test": ["CMD", "true"]}} for n in SERVICES}
        (root / "stagectl.yaml").write_text(yaml.safe_dump(
            {"version": 1, "project": f"fake-{name}", "env_file": ".env.staging", "services": spec}))
        (root / ".env.staging").write_text("API_TOKEN=sk-canary-123\n")
        (root / "compose" / COMPOSE_FILE).write_text("services: {}\n")
        self.fake = root / "fake"
        services = {n: {"healthy_after": 1, "logs": tick_lines(n), "depends_on": spec[n]["depends_on"]} for n in SERVICES}
        super().__init__(root, fake_docker_env(self.fake, services))

    def world(self) -> dict:
        state = self.fake / "state.json"
        return json.loads(state.read_text()) if state.is_file() else {"containers": {}}

    def calls(self) -> list[list[str]]:
        log = self.fake / "argv.jsonl"
        return [json.loads(line)["argv"] for line in log.read_text().splitlines()] if log.is_file() else []

    def running(self) -> set[str]:
        return {n for n, c in self.world()["containers"].items() if c["state"] in ("running", "paused")}

    def instance(self, service: str) -> str:
        return str(self.world()["containers"].get(service, {}).get("serial"))

    def port(self, service: str) -> int:
        return self.ports[service]

    def crash(self, service: str) -> None:  # pragma: no cover - the contract skips it (live = False)
        raise NotImplementedError

    freeze = crash

    def scenario(self, name: str, *, never_healthy: str | None = None) -> FakeCliHarness:
        return FakeCliHarness(self.root.parent / name, name)

    def cleanup(self) -> None:
        self.run("down", "--volumes")


class TestFakeDockerCli(CliContract):
    @pytest.fixture(scope="class")
    def harness(self, tmp_path_factory):
        h = FakeCliHarness(tmp_path_factory.mktemp("cli-fake") / "stack")
        yield h
        h.cleanup()

    def test_logs_since_and_tail_reach_compose(self, stack):
        """The fake ignores --since: what it can check is the argv compose gets."""
        assert stack.run("logs", "--since", "10m", "--tail", "3").code == 0
        argv = next(a for a in reversed(stack.calls()) if "logs" in a)
        assert argv[argv.index("--tail") + 1] == "3" and "--timestamps" in argv
        assert argv[argv.index("--since") + 1].endswith("Z") and argv[-2:] == SERVICES


# -- the whole project through the compose backend ------------------------------------------------

ALL = ["postgres", "redis", "s3", "llm", "dashboard", "postgres-exporter", "redis-exporter", "prometheus", "grafana"]


@pytest.fixture
def whole(tmp_path) -> CliRunner:
    """The repository's own project as it is (validate checks its compose project name and that its
    URLs agree with its ports), the fake as `docker`; the dashboard's container exits. Its ports
    are the default ones, which the backend checks are free: hence the e2e lock."""
    services = {n: {"healthy_after": 1, "logs": f"{n} booting\n{n} ready"} for n in ALL}
    services["dashboard"] = {"exit": 1, "exit_after": 2, "logs": "dashboard booting\nboom: cannot import app"}
    # the one-shot bucket set-up of the real file: the wait lets the dashboard start once it exited 0
    services["s3-init"] = {"exit": 0, "exit_after": 1, "logs": "bucket ready"}
    env_file = tmp_path / ".env.staging"
    shutil.copy(REPO / ".env.staging.example", env_file)
    runner = CliRunner(REPO, fake_docker_env(tmp_path / "fake", services))
    runner.sets = ["--env-file", str(env_file)]
    assert runner.run(*runner.sets, "init", "--force").code == 0
    with open("/tmp/stagectl-e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield runner
        runner.run(*runner.sets, "down", "--volumes", "--backend", "compose")


def test_render_check_and_validate_of_the_project(whole):
    render = whole.run(*whole.sets, "render", "--check")
    assert render.code == 0, render
    validate = whole.run(*whole.sets, "validate", "--json")
    assert validate.code == 0, validate
    assert json.loads(validate.out)["summary"]["failed"] == 0


def test_run_through_compose_reaches_up_smoke_down_and_report(whole, tmp_path):
    """Fault: `run --backend compose` died before the backend's `up` (the on_progress TypeError,
    exit 70). Here it runs render --check, validate, preflight and `up` (progress reports, the
    images' ids for the report) on the fake, then smoke finds the dashboard's container exited
    (exit 4: no stack), and `down` and the report still run."""
    out = tmp_path / "reports"
    run = whole.run(*whole.sets, "run", "--backend", "compose", "--chaos", "off", "--fuzz-seconds", "0",
                    "--soak-seconds", "0", "--bench-seconds", "0", "--wait-timeout", "30", "--out", str(out), timeout=170)
    assert run.code == 4, run
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "compose" and report["exit_code"] == 4
    phases = report["phases"]
    assert [s["name"] for s in phases["up"]["services"]] == ALL, phases["up"]
    assert all("image fake/" in report["service_versions"].get(n, "") for n in ALL), report["service_versions"]
    assert phases["smoke"]["status"] == "failed" and "dashboard: exited" in phases["smoke"]["reason"]
    assert phases["teardown"]["leftovers"] == []
    world = json.loads((tmp_path / "fake" / "state.json").read_text())
    assert world["containers"] == {}, "torn down"
    again = whole.run(*whole.sets, "report", str(out / "report.json"))
    assert again.code == 0, again
