"""Time to all-healthy, in one run on one spec: the local backend, the compose backend's `up` on the
real Docker engine, and plain `docker compose up -d --wait` on the same rendered files (same
healthcheck intervals, same images).

Each run starts cold (`down --volumes` before it) under its own project, on free host ports (every
port variable of the spec); the three kinds alternate within each round, so a change in the
machine's load hits all three alike. Needs an engine (scripts/install-docker.sh) and, without a
registry, the local images (stagectl build). Holds /tmp/stagectl-bench.lock, so two benchmarks
never overlap, and records the load average before and after.

What is timed, wall clock, for each kind:
- local backend: `LocalBackend(ctx)` + `up()` (what `stagectl up` runs after loading the project);
- compose backend: `ComposeBackend(ctx)` (its image choice included) + `up()` (the missing-image
  check, the status before, `compose up` and the wait); its own `total_s` is recorded too;
- plain compose: `docker compose … up -d --wait` with exactly the backend's files and env files.

    python benchmarks/bench_compose.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
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


def local_up(overrides: dict[str, str], timeout: float) -> tuple[float, float]:
    """(wall seconds of constructing the backend and `up()`, its own total_s); cold."""
    LocalBackend(context_for(overrides)).down(volumes=True)
    t0 = time.monotonic()
    backend = LocalBackend(context_for(overrides))
    try:
        total = backend.up(wait_timeout=timeout).total_s
        return time.monotonic() - t0, total
    finally:
        backend.down(volumes=True)


def compose_backend_up(overrides: dict[str, str], timeout: float) -> tuple[float, float, dict[str, float | None]]:
    """(wall seconds of `ComposeBackend(ctx)` + `up()`, its own total_s, ready_s per service)."""
    t0 = time.monotonic()
    backend = backend_for(overrides)
    result = backend.up(wait_timeout=timeout)
    return time.monotonic() - t0, result.total_s, {s.name: s.ready_s for s in result.services}


def plain_compose(backend: ComposeBackend, timeout: float) -> float:
    """`docker compose up -d --wait` with exactly the files and env files the backend uses."""
    cmd = [*backend.docker.compose.docker_compose_cmd, "up", "-d", "--wait", "--wait-timeout", str(int(timeout))]
    backend.prepare_host_dirs()  # the host overlay's bind mounts (the dashboard's log dir, Prometheus's config)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"plain compose up failed:\n{proc.stderr[-2000:]}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarise(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "p10": round(percentile(values, 10), 2),
            "p90": round(percentile(values, 90), 2), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ports = {var: str(free_port()) for var in _port_vars(REPO / "stagectl.yaml").values()}
    overrides = {"COMPOSE_PROJECT_NAME": PROJECT, **ports}
    kinds = ("local_backend", "plain_compose", "compose_backend")
    results: dict[str, list[float]] = {k: [] for k in kinds}
    backend_total: list[float] = []
    ready: list[dict[str, float | None]] = []
    with open("/tmp/stagectl-bench.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load_before = os.getloadavg()
        backend_for(overrides).preflight()
        for run in range(args.runs):
            for kind in kinds:
                backend_for(overrides).down(volumes=True)  # the previous run's containers hold the ports
                if kind == "local_backend":
                    wall, _total = local_up(overrides, args.timeout)
                elif kind == "plain_compose":
                    wall = plain_compose(backend_for(overrides), args.timeout)
                else:
                    wall, total, per_service = compose_backend_up(overrides, args.timeout)
                    backend_total.append(total)
                    ready.append(per_service)
                results[kind].append(round(wall, 2))
                print(f"run {run + 1} {kind}: {wall:.2f}s  (load {os.getloadavg()[0]:.2f})", flush=True)
        backend_for(overrides).down(volumes=True)
        load_after = os.getloadavg()
    stats = {k: summarise(v) for k, v in results.items()}
    medians = {k: s["median"] for k, s in stats.items()}
    summary = {"runs": results, "stats_s": stats, "median_s": medians,
               "compose_backend_total_s": backend_total, "compose_backend_ready_s": ready,
               "backend_over_plain": round(medians["compose_backend"] / medians["plain_compose"], 3),
               "local_over_compose": round(medians["local_backend"] / medians["compose_backend"], 3),
               "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after]}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
