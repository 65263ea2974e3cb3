"""The backend contract against the real Docker engine (the fake `docker` runs it in
test_compose_contract.py): the same scenarios — healthy, never healthy, crashing, no engine — on
real containers of the locally built Debian base image, so a difference between the fake and the
engine (health timing, pause, stop, volumes) cannot hide.

Skipped (with the reason) only when no engine with Compose v2 answers or the base image is absent.
Publishes no host port, so it needs no e2e lock.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
import yaml
from contract import BackendContract, Scenario
from engine import engine_marks
from fakedocker import SPEC, make_stack

from stagectl.backends.base import BackendContext
from stagectl.backends.compose import COMPOSE_FILE, ComposeBackend

IMAGE = "stagectl-local/debian:bookworm"  # `stagectl build` makes it; has sh and sleep
MARKER = "contract-marker-7f3a"
pytestmark = engine_marks(IMAGE)


def compose_file(scenario: Scenario) -> dict:
    """db, cache and api (api after both are healthy), each with a volume and a 1 s healthcheck."""
    services = {}
    for name, deps in SPEC.items():
        svc: dict = {
            "image": IMAGE, "init": True, "restart": "no",
            "command": ["sh", "-c", f"echo {name} booting; echo {MARKER}; exec sleep infinity"],
            "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "timeout": "1s", "retries": 3},
            "volumes": [f"{name}_data:/data"],
        }
        if deps:
            svc["depends_on"] = {d: {"condition": "service_healthy"} for d in deps}
        if name == scenario.never_healthy:  # its first check would come after an hour: "starting" for good
            svc["healthcheck"] = {**svc["healthcheck"], "interval": "1h"}
        if name == scenario.crashes:
            svc["command"] = ["sh", "-c", f"echo {MARKER}; sleep 1; exit 1"]
        services[name] = svc
    return {"services": services, "volumes": {f"{n}_data": {} for n in SPEC}}


class EngineHarness:
    """ContractHarness on the real engine: the world is what `docker ps` / `docker volume ls` say."""

    services = list(SPEC)
    wait_timeout = 60.0
    short_timeout = 4.0
    log_marker = MARKER

    def __init__(self, tmp_path, monkeypatch):
        self.root = tmp_path / "proj"
        (self.root / "compose").mkdir(parents=True)
        self.project = f"stagectl-contract-{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv("STAGECTL_COMPOSE_IMAGES", "upstream")  # the compose file names the image

    def backend(self, scenario: Scenario) -> ComposeBackend:
        (self.root / "compose" / COMPOSE_FILE).write_text(yaml.safe_dump(compose_file(scenario)))
        ctx = BackendContext(stack=make_stack(self.project), env={}, root=self.root, state_dir=self.root / "state")
        # no engine: a socket nobody listens on
        call = ["docker", "--host", "unix:///nonexistent/docker.sock"] if scenario.preflight_fails else ["docker"]
        return ComposeBackend(ctx, client_call=call, poll_interval=0.25)

    def _docker(self, *args: str) -> list[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.split()

    def running_services(self) -> set[str]:
        label = f"label=com.docker.compose.project={self.project}"
        return set(self._docker("ps", "--filter", label, "--format", '{{.Label "com.docker.compose.service"}}'))

    def data_exists(self) -> bool:
        return bool(self._docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}"))

    def cleanup(self) -> None:
        subprocess.run(["docker", "compose", "-p", self.project, "-f", str(self.root / "compose" / COMPOSE_FILE),
                        "down", "--volumes", "--remove-orphans", "--timeout", "1"], capture_output=True)


class TestComposeEngineContract(BackendContract):
    @pytest.fixture
    def harness(self, tmp_path, monkeypatch):
        h = EngineHarness(tmp_path, monkeypatch)
        yield h
        h.cleanup()
