"""Benchmark `stagectl up` → all healthy → `stagectl down` on the real local stack.

Runs in a temporary copy of the project (stagectl.yaml + a fresh env file with random secrets and
free, non-default ports), so it never touches the developer's stack or the default ports.
Cold runs start from fresh data (`down --volumes` before each); warm runs keep the data.

    python benchmarks/bench_up.py [--runs 10] [--no-dashboard] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from stagectl.secrets import is_secret_name  # noqa: E402

PORT_VARS = {"POSTGRES_PORT", "REDIS_PORT", "S3_PORT", "LLM_STUB_PORT", "DASHBOARD_PORT", "PROMETHEUS_PORT",
             "GRAFANA_PORT", "POSTGRES_EXPORTER_PORT", "REDIS_EXPORTER_PORT"}
DEFAULT_PORTS = {5433, 6380, 4566, 8090, 8080, 9091, 3001, 9187, 9121}


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in DEFAULT_PORTS:
            return port


def make_project(no_dashboard: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="stagectl-bench-"))
    root.chmod(0o755)  # PostgreSQL runs as user postgres and must traverse it
    spec = yaml.safe_load((REPO / "stagectl.yaml").read_text())
    if no_dashboard:
        for name in ("dashboard", "llm"):
            spec["services"].pop(name, None)
        for svc in spec["services"].values():
            svc["depends_on"] = [d for d in svc.get("depends_on", []) if d in spec["services"]]
    (root / "stagectl.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(REPO / ".env.staging.example", root / ".env.staging.example")
    (root / "dashboard").symlink_to(REPO / "dashboard")
    ports = {var: free_port() for var in PORT_VARS}
    lines = []
    for line in (REPO / ".env.staging.example").read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if match:
            name = match.group(1)
            if name in ports:
                line = f"{name}={ports[name]}"
            elif is_secret_name(name):
                line = f"{name}={secrets.token_urlsafe(24)}"
            elif name == "S3_ENDPOINT_URL":
                line = f"{name}=http://127.0.0.1:{ports['S3_PORT']}"
            elif name == "OPENAI_BASE_URL":
                line = f"{name}=http://127.0.0.1:{ports['LLM_STUB_PORT']}/v1"
        lines.append(line)
    env_path = root / ".env.staging"
    env_path.write_text("\n".join(lines) + "\n")
    env_path.chmod(0o600)
    return root


def stagectl(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "stagectl", "-C", str(root), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_run(root: Path, cold: bool) -> dict:
    if cold:
        stagectl(root, "down", "--volumes")
    started = time.monotonic()
    up = stagectl(root, "up", "--json", "--wait-timeout", "120")
    wall = time.monotonic() - started
    if up.returncode != 0:
        stagectl(root, "down")
        raise SystemExit(f"up failed (exit {up.returncode}):\n{up.stderr[-3000:]}")
    result = json.loads(up.stdout)
    started = time.monotonic()
    down = stagectl(root, "down")
    if down.returncode != 0:
        raise SystemExit(f"down failed (exit {down.returncode}):\n{down.stderr[-2000:]}")
    return {"wall_s": wall, "total_s": result["total_s"], "down_wall_s": time.monotonic() - started,
            "ready": {s["name"]: s["ready_s"] for s in result["services"]}, "skipped": result["skipped"]}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summarize(runs: list[dict]) -> dict:
    def stats(values):
        return {"median": round(statistics.median(values), 3), "p95": round(p95(values), 3)}

    services = sorted({n for r in runs for n in r["ready"]})
    return {"runs": len(runs), "up_wall_s": stats([r["wall_s"] for r in runs]),
            "all_healthy_s": stats([r["total_s"] for r in runs]),
            "down_wall_s": stats([r["down_wall_s"] for r in runs]),
            "ready_s": {n: stats([r["ready"][n] for r in runs if r["ready"].get(n) is not None]) for n in services},
            "skipped": runs[0]["skipped"] if runs else {}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-dashboard", action="store_true", help="benchmark without the dashboard and LLM stub")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    root = make_project(args.no_dashboard)
    try:
        report = {}
        for mode in ("cold", "warm"):
            runs = [one_run(root, cold=(mode == "cold")) for _ in range(args.runs)]
            report[mode] = summarize(runs)
            print(f"{mode}: {json.dumps(report[mode])}", flush=True)
        report["load_avg_1m"] = os.getloadavg()[0]
        report["no_dashboard"] = args.no_dashboard
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        stagectl(root, "down", "--volumes")
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
