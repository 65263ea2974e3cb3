"""The soak phase: a bounded constant-rate load on a mix of read and write endpoints of the live
stack (`stagectl soak`, and a step of `stagectl run`).

Judged: zero errors, p99 stable from the first window to the last (`load.stability`), the
dashboard still OPTIMAL with no breaker failure counted; reported: the dashboard's RSS and open
file descriptors at the start and the end. Entry point: `soak_phase()` (the report's SoakPhase).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagectl.config.loader import Project
    from stagectl.report.model import SoakPhase

DEFAULT_DURATION_S = 60.0
DEFAULT_RATE_RPS = 25.0
P99_FLOOR_MS = 5.0


def default_window(duration_s: float) -> float:
    """A minute per window on a long soak; a quarter of the run on a short one (four windows)."""
    return 60.0 if duration_s >= 240 else duration_s / 4


def soak_phase(project: Project, backend: str | None = None, *, duration_s: float = DEFAULT_DURATION_S,
               rate_rps: float = DEFAULT_RATE_RPS, window_s: float | None = None, target: str | None = None) -> SoakPhase:
    """Soak the running stack of `project` (or `target`); the report's soak phase."""
    import httpx

    from stagectl.fuzz import _api_key
    from stagectl.fuzz.stackstate import read_state, state_problems
    from stagectl.report.model import SoakPhase, SoakWindow
    from stagectl.results import CheckResult, failure_summary
    from stagectl.smoke.target import smoke_target
    from stagectl.soak import load, resources
    from stagectl.stack import backend_name

    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    where = smoke_target(project, target=target, backend=backend)
    key = _api_key(where.env)
    window_s = window_s or default_window(duration_s)
    pid, note = (None, "a --target URL: the process is not this host's") if target else \
        resources.dashboard_pid(project, backend_name(backend, project))
    headers = {"X-API-Key": key}
    run_id = load.new_run_id()
    item = f"{load.SKU_PREFIX}{run_id}"
    before = read_state(where.url, key)
    start_use, note = resources.measure(pid, note)
    with httpx.Client(base_url=where.url, headers=headers, timeout=10) as client:
        created = client.post("/api/inventory", json={"sku": item, "name": "stagectl soak item", "category": "soak",
                                                      "price": 1.0, "quantity": 100})
    per_address = max(1, int(where.env.get("DASHBOARD_RATELIMIT_REQUESTS") or 100) - 5)
    result = asyncio.run(load.constant_rate(where.url, headers, load.mix(run_id), rate_rps=rate_rps,
                                            duration_s=duration_s, per_address=per_address))
    rows = load.windows(result.samples, window_s, duration_s)
    stable, rule = load.stability(rows[0]["p99_ms"], rows[-1]["p99_ms"], P99_FLOOR_MS)
    if not stable and rows[0]["p99_ms"] is not None:
        # A miss is measured once more, for one more window, and judged on that (as bench's
        # confirm_miss): one neighbour's burst on a shared 2-core box can double one window's
        # p99 (seen here: 30 → 100 ms in the last of four windows, p50 unchanged); a real creep
        # misses twice.
        extra = asyncio.run(load.constant_rate(where.url, headers, load.mix(run_id, "x"), rate_rps=rate_rps,
                                               duration_s=window_s, per_address=per_address))
        for sample in extra.samples:
            sample.due_s += duration_s
        result.samples.extend(extra.samples)
        result.created.extend(extra.created)
        again = load.windows(extra.samples, window_s, window_s)[0]
        rows.append({**again, "t_s": round(duration_s, 3)})
        stable, rule = load.stability(rows[0]["p99_ms"], again["p99_ms"], P99_FLOOR_MS)
        rule += f" (one more window measured after a first miss: {rows[-2]['p99_ms']} ms)"
    end_use, note = resources.measure(pid, note) if start_use else (None, note)
    left = _remove(where.url, headers, [item, *result.created])
    after = read_state(where.url, key)

    errors = sum(1 for s in result.samples if s.error)
    problems = state_problems(before, after)
    kinds = load.error_kinds(result.samples)
    checks = [
        CheckResult("soak.setup", "soak", "pass" if created.status_code == 201 else "fail",
                    f"soak item created (HTTP {created.status_code})"),
        CheckResult("soak.errors", "soak", "fail" if errors or not result.samples else "pass",
                    f"{errors} of {len(result.samples)} requests failed: " + ", ".join(f"{k}×{v}" for k, v in sorted(kinds.items()))
                    if errors else f"{len(result.samples)} requests at {rate_rps:g}/s, no error"),
        CheckResult("soak.p99_stable", "soak", "pass" if stable else "fail", rule),
        CheckResult("soak.stack_state", "soak", "fail" if problems else "pass",
                    "; ".join(problems) if problems else f"level {after.level}, no breaker failure counted"),
        CheckResult("soak.cleanup", "soak", "fail" if left else "pass", left or "soak items removed"),
        CheckResult("soak.resources", "soak", "pass" if start_use and end_use else "skip",
                    f"dashboard RSS {start_use.rss_mb} → {end_use.rss_mb} MB, open fds {start_use.fds} → {end_use.fds}"
                    if start_use and end_use else f"not measured: {note}"),
    ]
    failed = any(c.failed for c in checks)
    mix_counts: dict[str, int] = {}
    for s in result.samples:
        mix_counts[s.name] = mix_counts.get(s.name, 0) + 1
    return SoakPhase(
        status="failed" if failed else "passed", reason=failure_summary(checks),
        command=f"stagectl soak --duration {duration_s:g} --rate {rate_rps:g} --window {window_s:g}",
        started_at=started, duration_s=round(time.monotonic() - t0, 3), checks=checks, rate_rps=rate_rps,
        achieved_rps=round(len(result.samples) / result.wall_s, 1) if result.wall_s else None, window_s=window_s,
        requests=len(result.samples), errors=errors, error_kinds=kinds, mix=dict(sorted(mix_counts.items())),
        windows=[SoakWindow(**row) for row in rows], stability_rule=rule,
        rss_start_mb=start_use.rss_mb if start_use else None, rss_end_mb=end_use.rss_mb if end_use else None,
        fds_start=start_use.fds if start_use else None, fds_end=end_use.fds if end_use else None,
        resources_note=note)


def _remove(base_url: str, headers: dict[str, str], skus: list[str]) -> str | None:
    from stagectl.fuzz.cleanup import remove_created

    return remove_created(base_url, headers["X-API-Key"], [("inventory", sku) for sku in skus])
