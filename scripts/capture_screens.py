"""Make the screen captures in docs/screens/: `stagectl status --watch` while a chaos scenario has
Redis down (its breaker open), and the interleaved `stagectl logs` view. Text captures of a real
terminal (tmux capture-pane), from a real local stack on free ports; everything is torn down after.

    python scripts/capture_screens.py        # needs tmux; about two minutes
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screens"
SESSION = f"stagectl-capture-{os.getpid()}"
PORT_VARS = ("POSTGRES_PORT", "REDIS_PORT", "S3_PORT", "LLM_STUB_PORT", "DASHBOARD_PORT", "PROMETHEUS_PORT",
             "POSTGRES_EXPORTER_PORT", "REDIS_EXPORTER_PORT", "GRAFANA_PORT")


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def main() -> int:
    sys.path.insert(0, str(REPO))
    import httpx

    from stagectl.config.envfile import parse_env_file
    from stagectl.config.newenv import render_env_file

    example = REPO / ".env.staging.example"
    text, _ = render_env_file(example.read_text(encoding="utf-8"), parse_env_file(example))
    env_file = Path(tempfile.mkdtemp(prefix="stagectl-capture-")) / ".env.staging"
    env_file.write_text(text, encoding="utf-8")
    env_file.chmod(0o600)
    sets = {"COMPOSE_PROJECT_NAME": "capture", "HEALTH_CHECK_INTERVAL": "1",
            **dict(zip(PORT_VARS, map(str, free_ports(len(PORT_VARS)))))}
    base = [sys.executable, "-m", "stagectl", "-C", str(REPO), "--env-file", str(env_file),
            *[f"--set={k}={v}" for k, v in sets.items()]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "dashboard")])}

    def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=timeout)

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout

    def capture(name: str) -> None:
        lines = tmux("capture-pane", "-p", "-t", SESSION).rstrip().splitlines()
        (OUT / name).write_text("\n".join(line.rstrip() for line in lines) + "\n", encoding="utf-8")
        print(f"wrote docs/screens/{name}")

    OUT.mkdir(parents=True, exist_ok=True)
    # a `stagectl` on the pane's PATH that carries this stack's options, so the pane shows the
    # command as a user types it
    bin_dir = env_file.parent / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "stagectl"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(env['PYTHONPATH'])} exec {shlex.join(base)} \"$@\"\n")
    wrapper.chmod(0o700)
    dashboard = f"http://127.0.0.1:{sets['DASHBOARD_PORT']}/health"
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    key = values.get("DASHBOARD_API_KEY", "").strip().strip('"')
    try:
        up = cli("up", "--wait-timeout", "120")
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return up.returncode
        tmux("new-session", "-d", "-s", SESSION, "-x", "150", "-y", "40",
             f"env PATH={bin_dir}:{os.environ['PATH']} PS1='$ ' sh")
        tmux("send-keys", "-t", SESSION, "clear; stagectl status --watch", "Enter")
        # the scenario that holds its fault until the openai breaker is OPEN
        chaos = subprocess.Popen([*base, "chaos", "--scenario", "openai-breaker-open"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            try:
                report = httpx.get(dashboard, headers={"X-API-Key": key}, timeout=2).json()
            except (httpx.HTTPError, ValueError):
                report = {}
            state = ((report.get("services") or {}).get("openai") or {}).get("circuit_breaker", {}).get("state")
            if str(state).lower() == "open":
                time.sleep(2.5)  # let the watch refresh with it
                break
            time.sleep(0.3)
        else:
            print("the openai breaker never opened; capturing anyway", file=sys.stderr)
        capture("status-watch-chaos.txt")
        chaos.wait(timeout=240)
        tmux("send-keys", "-t", SESSION, "C-c", "")
        time.sleep(1)
        tmux("send-keys", "-t", SESSION, "clear; stagectl logs dashboard redis postgres llm --since 10m --tail 8 "
             "| cut -c1-150", "Enter")
        time.sleep(6)
        capture("logs.txt")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        down = cli("down", "--volumes")
        print(down.stdout.strip() or down.stderr.strip())
        shutil.rmtree(env_file.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
