"""Harness for the reliability tier: tmp projects of `runner: command` fake services, the real CLI
in its own session, and an autouse finalizer that fails the test (and kills) on any orphan."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).parent / "services" / "fake_service.py"
MARKER = "STAGECTL_TEST_ID"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def marked_pids(var: str, value: str) -> list[int]:
    """Live processes whose start environment holds var=value (the sweep of the finalizer)."""
    needle = f"{var}={value}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(int(entry.name))
        except OSError:
            continue
    return out


def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll `check()` until truthy (returned) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {check}")


@dataclasses.dataclass
class Project:
    dir: Path
    test_id: str
    ports: dict[str, int] = dataclasses.field(default_factory=dict)

    def service(self, name: str, *fake_args: str, depends_on=(), grace: str = "1s", start_period: str = "30s",
                command: list[str] | None = None, **extra) -> dict:
        port = self.ports.setdefault(name, free_port())
        argv = command or [sys.executable, str(FAKE), "--port", str(port), "--pidfile", str(self.pidfile(name)), *fake_args]
        return {"runner": "command", "command": argv, "port": port, "container_port": port,
                "depends_on": list(depends_on), "stop_grace_period": grace,
                "healthcheck": {"probe": "http", "path": "/health", "timeout": "1s", "start_period": start_period},
                **extra}

    def write(self, services: dict, env_text: str | None = None) -> None:
        spec = {"version": 1, "project": "rel", "env_file": ".env.staging", "services": services}
        (self.dir / "stagectl.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
        if env_text is None:
            env_text = "API_TOKEN=sk-canary-123\nREDIS_PASSWORD=canary-redis-pw\n"
        (self.dir / ".env.staging").write_text(env_text, encoding="utf-8")

    def pidfile(self, name: str) -> Path:
        return self.dir / f"{name}.pid"

    def pid(self, name: str) -> int:
        return int(eventually(lambda: self.pidfile(name).is_file() and self.pidfile(name).read_text().strip()))

    @property
    def state_dir(self) -> Path:
        return self.dir / ".stagectl" / "rel"

    def state(self) -> dict:
        try:
            return json.loads((self.state_dir / "state.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def env(self, **extra: str) -> dict:
        return {**os.environ, "PYTHONPATH": str(REPO), MARKER: self.test_id, "NO_COLOR": "1", **extra}

    def start(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        """The real CLI in its own session (so a test can send it a terminal's SIGINT)."""
        out = open(self.dir / "stdout.txt", "wb")
        err = open(self.dir / "stderr.txt", "wb")
        return subprocess.Popen([sys.executable, "-m", "stagectl", *args], cwd=self.dir, env=env or self.env(),
                                stdout=out, stderr=err, start_new_session=True)

    def run(self, *args: str, timeout: float = 40, env: dict | None = None) -> Result:
        started = time.monotonic()
        proc = self.start(*args, env=env)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        return Result(code, self.stdout(), self.stderr(), time.monotonic() - started)

    def stdout(self) -> str:
        return (self.dir / "stdout.txt").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.dir / "stderr.txt").read_text(errors="replace")


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str
    elapsed: float


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root, uuid.uuid4().hex)
    yield proj
    _kill_orphans(proj)


@pytest.fixture
def open_project():
    """A project in a directory the `postgres` user can traverse (pytest's tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="stagectl-rel-"))
    root.chmod(0o755)
    proj = Project(root, uuid.uuid4().hex)
    yield proj
    try:
        _kill_orphans(proj)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _kill_orphans(proj: Project) -> None:
    kill_orphans(proj.test_id)


def kill_orphans(test_id: str) -> None:
    """Kill every process marked with `test_id` (frozen ones too), then fail if there were any."""
    leftovers = marked_pids(MARKER, test_id)
    for pid in leftovers:  # one bad test must not poison the others
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leftovers, f"orphans left behind: {leftovers}"
