"""The CLI contract (cli_contract.py) on the real Docker engine: two containers of the locally
built Debian base image (`sh` loops printing ticks, a 1 s healthcheck), each publishing a free
127.0.0.1 port, under a compose project of their own. This is where the compose backend's day-two
operations (stagectl/backends/compose_ops.py: stop/start/restart/up SERVICE, exec, logs -f,
--since/--tail) and the reliability scenarios run against a real engine.

Skipped (with the reason) only when no engine with Compose v2 answers or the base image is absent.
Free ports and its own project names: no e2e lock needed.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from cli_contract import SERVICES, TICK_S, CliContract, CliRunner, free_port
from engine import engine_marks

from stagectl.backends.compose import COMPOSE_FILE

IMAGE = "stagectl-local/debian:bookworm"  # `stagectl build` makes it; has sh, date and sleep
pytestmark = engine_marks(IMAGE, pytest.mark.timeout(180))

# every TICK_S seconds "<UTC ISO time> <name> tick N", like fake_service.py --tick ($$: compose's literal $)
TICKER = ('i=0; while :; do i=$$((i+1)); echo "$$(date -u +%Y-%m-%dT%H:%M:%S.%NZ) {name} tick $$i"; '
          f"sleep {TICK_S}; done")


class EngineCliHarness(CliRunner):
    backend = "compose"
    live = True

    def __init__(self, root: Path, name: str = "cli", never_healthy: str | None = None):
        (root / "compose").mkdir(parents=True)
        self.project = f"stagectl-cli-{name}-{uuid.uuid4().hex[:6]}"
        super().__init__(root, {"STAGECTL_COMPOSE_IMAGES": "upstream"})  # the compose file names the image
        self.ports = {n: free_port() for n in SERVICES}
        spec, compose = {}, {}
        for n in SERVICES:
            deps = ["db"] if n == "web" else []
            check = {"test": ["CMD", "true"], "interval": "1s", "timeout": "1s", "retries": 3}
            spec[n] = {"runner": "command", "command": ["true"], "image": IMAGE, "port": self.ports[n],
                       "container_port": 8000, "depends_on": deps, "stop_grace_period": "2s",
                       "healthcheck": {"probe": "tcp", **check}}
            compose[n] = {
                "image": IMAGE, "init": True, "restart": "no", "stop_grace_period": "2s",
                "command": ["sh", "-c", TICKER.format(name=n)],
                "healthcheck": {**check, "interval": "1h"} if n == never_healthy else check,
                "ports": [f"127.0.0.1:{self.ports[n]}:8000"],
                "volumes": [f"{n}_data:/data"],
            }
            if deps:
                compose[n]["depends_on"] = {d: {"condition": "service_healthy"} for d in deps}
        stack = {"version": 1, "project": self.project, "env_file": ".env.staging", "services": spec}
        (root / "stagectl.yaml").write_text(yaml.safe_dump(stack))
        (root / ".env.staging").write_text("API_TOKEN=sk-canary-123\n")
        doc = {"services": compose, "volumes": {f"{n}_data": {} for n in SERVICES}}
        (root / "compose" / COMPOSE_FILE).write_text(yaml.safe_dump(doc))

    def port(self, service: str) -> int:
        return self.ports[service]

    def _containers(self) -> dict[str, dict]:
        label = f"label=com.docker.compose.project={self.project}"
        ids = subprocess.run(["docker", "ps", "-q", "--filter", label], capture_output=True, text=True, check=True).stdout.split()
        if not ids:
            return {}
        inspected = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}

    def running(self) -> set[str]:
        return set(self._containers())  # `docker ps` lists running and paused containers

    def instance(self, service: str) -> str:
        found = self._containers().get(service)
        return f"{found['Id'][:12]}@{found['State']['StartedAt']}" if found else "none"

    def crash(self, service: str) -> None:
        subprocess.run(["docker", "kill", self._containers()[service]["Id"]], capture_output=True, check=True)

    def freeze(self, service: str) -> None:
        subprocess.run(["docker", "pause", self._containers()[service]["Id"]], capture_output=True, check=True)

    def scenario(self, name: str, *, never_healthy: str | None = None) -> EngineCliHarness:
        return EngineCliHarness(self.root.parent / name, name, never_healthy)

    def cleanup(self) -> None:
        subprocess.run(["docker", "compose", "-p", self.project, "down", "--volumes", "--remove-orphans", "--timeout", "1"],
                       capture_output=True)


class TestEngineCli(CliContract):
    @pytest.fixture(scope="class")
    def harness(self, tmp_path_factory):
        h = EngineCliHarness(tmp_path_factory.mktemp("cli-engine") / "stack")
        yield h
        h.cleanup()
