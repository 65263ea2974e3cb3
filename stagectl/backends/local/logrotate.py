"""One log generation per `up`: the dashboard's JSON log (and any other `*.json.log`) starts empty
for each new stack, the previous run's file kept beside it as `<name>.1` (one generation).

Why: checks read these logs (the smoke suite's secret and format tests). Appended across runs, one
run's leaked secret failed every later clean run, pointing at the wrong change. A restart of one
service inside a running stack (`start`) does not rotate: that is still this stack's log.
"""

from __future__ import annotations

from pathlib import Path

ROTATED = "*.json.log"


def rotate_run_logs(logs_dir: Path) -> list[Path]:
    """Move each non-empty `*.json.log` in `logs_dir` to `<name>.1` (replacing an older `.1`);
    returns the files kept. Empty files are left alone (nothing to keep)."""
    kept: list[Path] = []
    if not logs_dir.is_dir():
        return kept
    for path in sorted(logs_dir.glob(ROTATED)):
        if path.is_file() and path.stat().st_size > 0:
            previous = path.with_name(path.name + ".1")
            path.replace(previous)
            kept.append(previous)
    return kept
