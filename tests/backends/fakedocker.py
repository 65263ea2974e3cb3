"""Test helpers around the `fake-docker` script: a tiny project, a script writer, the argv log."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from stagectl.backends.base import BackendContext
from stagectl.backends.compose import COMPOSE_FILE, ComposeBackend
from stagectl.config.model import Healthcheck, Service, Stack

FAKE_DOCKER = Path(__file__).with_name("fake-docker")
SECRET = "s3cr3t-Pa55word"  # appears in a fake log line; must never reach an error message

# db and cache start first, api depends on both (so a root cause can be told from a victim)
SPEC = {"db": [], "cache": [], "api": ["db", "cache"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_stack(project: str = "ct-proj") -> Stack:
    services = {
        name: Service(
            runner="command",
            command=["true"],
            image="busybox:1",
            port=free_port(),  # `up` checks the host ports are free, as for the local backend
            container_port=8000 + i,
            depends_on=deps,
            volumes={f"{name}_data": "/data"},
            healthcheck=Healthcheck(probe="tcp", test=["CMD", "true"]),
        )
        for i, (name, deps) in enumerate(SPEC.items())
    }
    return Stack(version=1, project=project, services=services)


class FakeDocker:
    """One fake docker world in `tmp`: its script, argv log and state, plus a project dir."""

    def __init__(self, tmp: Path, monkeypatch):
        self.tmp = tmp
        self.root = tmp / "proj"
        (self.root / "compose").mkdir(parents=True)
        (self.root / "compose" / COMPOSE_FILE).write_text("services: {}\n")
        (self.root / ".env.staging").write_text(f"POSTGRES_PASSWORD={SECRET}\n")
        (self.root / "compose" / ".env.staging").write_text("POSTGRES_PASSWORD=\n")
        self.log, self.script_path, self.state = tmp / "argv.jsonl", tmp / "script.json", tmp / "state.json"
        monkeypatch.setenv("FAKE_DOCKER_LOG", str(self.log))
        # The fake models an engine that runs the upstream images (the local-image mode is
        # tested against the real engine in test_compose_engine.py).
        monkeypatch.setenv("STAGECTL_COMPOSE_IMAGES", "upstream")
        monkeypatch.setenv("FAKE_DOCKER_SCRIPT", str(self.script_path))
        monkeypatch.setenv("FAKE_DOCKER_STATE", str(self.state))
        self.stack = make_stack()
        self.ctx = BackendContext(stack=self.stack, env={"POSTGRES_PASSWORD": SECRET}, root=self.root, state_dir=tmp / "state")

    def script(self, *, rules: list[dict] | None = None, services: dict | None = None) -> None:
        """Write the script: default services become healthy on their 2nd `ps` listing."""
        svc = {name: {"healthy_after": 2, "logs": f"{name} booting\n{name} password={SECRET}\n{name} still waiting"} for name in SPEC}
        for name, override in (services or {}).items():
            svc[name].update(override)
        volumes = [f"{name}_data" for name in SPEC]
        self.script_path.write_text(json.dumps({"rules": rules or [], "services": svc, "volumes": volumes}))

    def backend(self, **kwargs) -> ComposeBackend:
        kwargs.setdefault("poll_interval", 0.02)
        # run the script with this interpreter: a pyenv shim on the shebang costs ~0.5 s per call
        return ComposeBackend(self.ctx, client_call=[sys.executable, "-S", str(FAKE_DOCKER)], **kwargs)

    def calls(self) -> list[list[str]]:
        """Every recorded argv, in order."""
        if not self.log.is_file():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def compose_subcommands(self) -> list[str]:
        """The compose subcommand of each recorded `compose` call (options skipped)."""
        out = []
        for argv in self.calls():
            if argv[:1] != ["compose"]:
                continue
            i = 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 2  # every global compose option we pass takes a value
            out.append(argv[i] if i < len(argv) else "")
        return out

    def world(self) -> dict:
        return json.loads(self.state.read_text()) if self.state.is_file() else {"containers": {}, "volumes": []}
