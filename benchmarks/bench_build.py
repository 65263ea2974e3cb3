"""Cold and cached time of the local image builds (what `stagectl build` runs), without touching
the images other people use.

Every image of the catalog is built under a throwaway namespace (`stagectl-coldbench-<pid>/`
instead of `stagectl-local/`) with a fresh work directory. Cold: the first build; the base is a
new debootstrap import, so no later layer can come from Docker's build cache (each image's parent
is new). pip's own download cache (~/.cache/pip) is not cleared: the wheels are built again, but
their sources may come from it. Cached: the same build again, N times, with nothing changed
(every image must be a cache hit). The throwaway images are removed afterwards. The real
`stagectl-local/*` tags are never built here: another checkout may have built them from other
inputs, and a build from this one would re-point them. Holds /tmp/stagectl-bench.lock and records
the load average.

    python benchmarks/bench_build.py [--cached-runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from stagectl.images import build as build_module  # noqa: E402
from stagectl.images import catalog  # noqa: E402


def builds(cached_runs: int) -> dict:
    namespace = f"stagectl-coldbench-{os.getpid()}/"
    renamed = tuple(dataclasses.replace(spec, tag=spec.tag.replace(catalog.LOCAL_PREFIX, namespace, 1))
                    for spec in catalog.CATALOG)
    catalog.CATALOG = renamed
    catalog.BY_NAME = {spec.name: spec for spec in renamed}
    services = sorted({svc for spec in renamed for svc in spec.services})
    work = Path(tempfile.mkdtemp(prefix="stagectl-coldbench-"))
    try:
        t0 = time.monotonic()
        cold = build_module.build_images(services, REPO, work_dir=work)
        cold_wall = round(time.monotonic() - t0, 2)
        walls, totals = [], []
        for _ in range(cached_runs):
            t0 = time.monotonic()
            again = build_module.build_images(services, REPO, work_dir=work)
            walls.append(round(time.monotonic() - t0, 2))
            totals.append(again.total_s)
            if again.built:
                raise SystemExit(f"not a cache hit: built {[i.name for i in again.built]}")
    finally:
        subprocess.run(["docker", "image", "rm", "--force", *(spec.tag for spec in renamed)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return {"cold": {"wall_s": cold_wall, "total_s": cold.total_s, "built": len(cold.built),
                     "images": {i.name: i.seconds for i in cold.images}},
            "cached": {"wall_s": walls, "total_s": totals, "median_wall_s": statistics.median(walls)}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cached-runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with open("/tmp/stagectl-bench.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        summary: dict = {"load_before": [round(x, 2) for x in os.getloadavg()]}
        summary.update(builds(args.cached_runs))
        summary["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
