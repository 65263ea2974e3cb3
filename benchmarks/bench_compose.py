"""Time to all-healthy, in one run on one spec: the local backend, the compose backend's `up` on the
real Docker engine, and plain `docker compose up -d --wait` on the same rendered files (same
healthcheck intervals, same images).

Each run starts cold (`down --volumes` before it) under its own project, on free host ports (every
port variable of the spec), and holds the e2e lock. Needs an engine (scripts/install-docker.sh)
and, without a registry, the local images (stagectl build).

    python benchmarks/bench_compose.py [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from stagectl.backends.base import BackendContext  # noqa: E402
from stagectl.backends.compose import ComposeBackend  # noqa: E402
from stagectl.backends.local.backend import LocalBackend  # noqa: E402
from stagectl.config.loader import load_project  # noqa: E402
from stagectl.render.context import _port_vars  # noqa: E402

PROJECT = "stagectl-bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def context_for(overrides: dict[str, str]) -> BackendContext:
    project = load_project(REPO, overrides=overrides)
    return BackendContext(stack=project.stack, env=project.env, root=REPO, state_dir=project.state_dir,
                          overrides=overrides, env_path=project.env_path)


def backend_for(overrides: dict[str, str]) -> ComposeBackend:
    return ComposeBackend(context_for(overrides))


def local_up(overrides: dict[str, str], timeout: float) -> float:
    backend = LocalBackend(context_for(overrides))
    backend.down(volumes=True)
    backend.preflight()
    try:
        return backend.up(wait_timeout=timeout).total_s
    finally:
        backend.down(volumes=True)


def plain_compose(backend: ComposeBackend, timeout: float) -> float:
    """`docker compose up -d --wait` with exactly the files and env files the backend uses."""
    cmd = [*backend.docker.compose.docker_compose_cmd, "up", "-d", "--wait", "--wait-timeout", str(int(timeout))]
    backend.prepare_log_dir()  # the host overlay's bind mount: writable for the dashboard's user
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"plain compose up failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ports = {var: str(free_port()) for var in _port_vars(REPO / "stagectl.yaml").values()}
    overrides = {"COMPOSE_PROJECT_NAME": PROJECT, **ports}
    results: dict[str, list[float]] = {"local_backend": [], "plain_compose": [], "compose_backend": []}
    with open("/tmp/stagectl-e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        backend = backend_for(overrides)
        backend.preflight()
        for run in range(args.runs):
            for kind in results:
                if kind == "local_backend":
                    backend_for(overrides).down(volumes=True)  # the previous run's containers hold the ports
                    results[kind].append(round(local_up(overrides, args.timeout), 2))
                    print(f"run {run + 1} {kind}: {results[kind][-1]:.2f}s", flush=True)
                    continue
                backend_for(overrides).down(volumes=True)
                backend = backend_for(overrides)
                if kind == "plain_compose":
                    results[kind].append(round(plain_compose(backend, args.timeout), 2))
                else:
                    results[kind].append(backend.up(wait_timeout=args.timeout).total_s)
                print(f"run {run + 1} {kind}: {results[kind][-1]:.2f}s", flush=True)
        backend_for(overrides).down(volumes=True)
    medians = {k: round(statistics.median(v), 2) for k, v in results.items()}
    summary = {"runs": results, "median_s": medians,
               "backend_over_plain": round(medians["compose_backend"] / medians["plain_compose"], 3),
               "local_over_compose": round(medians["local_backend"] / medians["compose_backend"], 3)}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
