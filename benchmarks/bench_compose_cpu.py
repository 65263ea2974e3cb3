"""CPU that the compose backend's `up` costs: this process plus every docker call it makes
(`getrusage` of the waited-for children, `compose up` included), and its wall time, for the
checkout given (default: this one), so two versions can be compared on the same machine:

    git archive <old-commit> | tar -x -C /tmp/old && cp .env.staging /tmp/old/
    PYTHONPATH=/tmp/old:/tmp/old/dashboard python benchmarks/bench_compose_cpu.py /tmp/old
    python benchmarks/bench_compose_cpu.py

Cold volumes, every port variable on a free port, project `stagectl-cpu`; holds
/tmp/stagectl-bench.lock. Needs the engine and the local images.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import socket
import sys
import time
from pathlib import Path

REPO = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from stagectl.backends.base import BackendContext  # noqa: E402
from stagectl.backends.compose import ComposeBackend  # noqa: E402
from stagectl.config.loader import load_project  # noqa: E402
from stagectl.render.context import _port_vars  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    overrides = {"COMPOSE_PROJECT_NAME": "stagectl-cpu", **{v: str(free_port()) for v in _port_vars(REPO / "stagectl.yaml").values()}}

    def context() -> BackendContext:
        project = load_project(REPO, overrides=overrides)
        return BackendContext(stack=project.stack, env=project.env, root=REPO, state_dir=project.state_dir,
                              overrides=overrides, env_path=project.env_path)

    with open("/tmp/stagectl-bench.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ComposeBackend(context()).down(volumes=True)
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        result = ComposeBackend(context()).up(wait_timeout=180)
        wall = time.monotonic() - t0
        own_cpu = cpu(resource.getrusage(resource.RUSAGE_SELF)) - cpu(own)
        docker_cpu = cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - cpu(children)
        load = os.getloadavg()
        ComposeBackend(context()).down(volumes=True)
    print(json.dumps({"repo": str(REPO), "wall_s": round(wall, 2), "total_s": result.total_s,
                      "cpu_self_s": round(own_cpu, 2), "cpu_docker_calls_s": round(docker_cpu, 2),
                      "load": [round(x, 2) for x in load]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
