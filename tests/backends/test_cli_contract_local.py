"""The CLI contract (cli_contract.py) on the local backend: tiny fake services
(tests/reliability/services/fake_service.py) as `runner: command` processes on free loopback ports.

Ground truth is /proc: a service runs when a live process carrying this class's marker variable
has that service's pidfile on its command line. Teardown kills and fails on any marked process left.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from cli_contract import SERVICES, TICK_S, CliContract, CliRunner, free_port

from tests.reliability.conftest import FAKE, MARKER, kill_orphans, marked_pids

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]


class LocalCliHarness(CliRunner):
    backend = "local"
    live = True

    def __init__(self, root: Path, name: str = "cli", never_healthy: str | None = None):
        root.mkdir(parents=True)
        self.test_id = uuid.uuid4().hex
        super().__init__(root, {MARKER: self.test_id})
        self.name, self.ports = name, {n: free_port() for n in SERVICES}
        services = {}
        for n in SERVICES:
            args = ["--never-healthy"] if n == never_healthy else ["--healthy-after", "0.2"]
            services[n] = {
                "runner": "command", "port": self.ports[n], "container_port": self.ports[n],
                "command": [sys.executable, str(FAKE), "--port", str(self.ports[n]), "--pidfile", str(self.pidfile(n)),
                            "--tick", str(TICK_S), "--name", n, *args],
                "depends_on": ["db"] if n == "web" else [], "stop_grace_period": "2s",
                "healthcheck": {"probe": "http", "path": "/health", "timeout": "1s", "start_period": "30s"},
            }
        spec = {"version": 1, "project": name, "env_file": ".env.staging", "services": services}
        (root / "stagectl.yaml").write_text(yaml.safe_dump(spec))
        (root / ".env.staging").write_text("API_TOKEN=sk-canary-123\n")

    def pidfile(self, service: str) -> Path:
        return self.root / f"{service}.pid"

    def port(self, service: str) -> int:
        return self.ports[service]

    def _pids(self) -> dict[str, int]:
        """Service → pid of its live (a frozen one included), marked process."""
        pidfiles = {str(self.pidfile(n)): n for n in SERVICES}
        found = {}
        for pid in marked_pids(MARKER, self.test_id):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue  # exited between the sweep and this read
            found.update({pidfiles[a]: pid for a in argv if a in pidfiles})
        return found

    def running(self) -> set[str]:
        return set(self._pids())

    def instance(self, service: str) -> str:
        return str(self._pids().get(service))

    def crash(self, service: str) -> None:
        os.kill(self._pids()[service], signal.SIGKILL)

    def freeze(self, service: str) -> None:
        os.kill(self._pids()[service], signal.SIGSTOP)

    def scenario(self, name: str, *, never_healthy: str | None = None) -> LocalCliHarness:
        return LocalCliHarness(self.root.parent / name, name, never_healthy)

    def cleanup(self) -> None:
        self.run("down", "--volumes", timeout=60)
        kill_orphans(self.test_id)


class TestLocalCli(CliContract):
    @pytest.fixture(scope="class")
    def harness(self, tmp_path_factory):
        h = LocalCliHarness(tmp_path_factory.mktemp("cli-local") / "stack")
        yield h
        h.cleanup()
