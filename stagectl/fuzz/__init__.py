"""The fuzz phase: property-based requests to every operation of the dashboard's OpenAPI document,
against the live stack (docs/commands.md, `stagectl fuzz`).

Per answer: no 5xx, the security headers of docs/contract.md §6 and `X-Request-ID`. After the run:
level OPTIMAL, every breaker closed, no breaker failure counted, no transition. Entry point:
`fuzz_phase()` (the report's FuzzPhase, for `stagectl fuzz` and `stagectl run`). The parts:
`engine` (schemathesis + hypothesis), `client` (one request, its verdict, its curl line),
`stackstate` (the dashboard's /health and breaker counters).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from typing import TYPE_CHECKING, Any

from stagectl.errors import ConfigError, PreflightError

if TYPE_CHECKING:
    from stagectl.config.loader import Project
    from stagectl.report.model import FuzzPhase

DEFAULT_MAX_EXAMPLES = 15  # per operation and generation mode: ~550 requests, ~35 s here (docs/performance.md)
DEFAULT_TIME_LIMIT_S = 45.0
TOOL = "schemathesis (case generation from the OpenAPI document) + hypothesis"


def _api_key(env: Any) -> str:
    name = env.get("STAGECTL_API_KEY_ENV") or "DASHBOARD_API_KEY"
    key = env.get(name)
    if not key:
        raise ConfigError(f"{name} is not set: the fuzz needs the dashboard's API key")
    return key


def _openapi(base_url: str, key: str) -> dict:
    import httpx

    try:
        response = httpx.get(f"{base_url}/openapi.json", headers={"X-API-Key": key}, timeout=10)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PreflightError(f"cannot read the dashboard's OpenAPI document at {base_url}/openapi.json: {exc}",
                             hint="is the stack up (`stagectl status`)?") from None


def _short(value: Any, limit: int = 2000) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def fuzz_phase(project: Project, backend: str | None = None, *, max_examples: int = DEFAULT_MAX_EXAMPLES,
               time_limit_s: float = DEFAULT_TIME_LIMIT_S, seed: int | None = None, target: str | None = None) -> FuzzPhase:
    """Fuzz the running stack of `project` (or `target`) and judge it; the report's fuzz phase."""
    from stagectl.fuzz.cleanup import remove_created
    from stagectl.fuzz.engine import Engine
    from stagectl.fuzz.stackstate import read_state, state_problems
    from stagectl.report.model import FuzzFailure, FuzzPhase
    from stagectl.results import CheckResult, failure_summary
    from stagectl.smoke.target import smoke_target

    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    where = smoke_target(project, target=target, backend=backend)
    key = _api_key(where.env)
    document = _openapi(where.url, key)
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    before = read_state(where.url, key)
    engine = Engine(where.url, key, hsts=where.env.get("DASHBOARD_ENABLE_HSTS", "").lower() == "true",
                    max_examples=max_examples, time_limit_s=time_limit_s, seed=seed)
    engine.run(document)
    cleanup = remove_created(where.url, key, engine.created)
    after = read_state(where.url, key)

    operations = [f"{m.upper()} {p}" for p, ops in document.get("paths", {}).items() for m in ops
                  if m.lower() in ("get", "post", "put", "patch", "delete")]
    untried = [op for op in operations if not engine.tried[op]]
    total = sum(engine.tried.values())
    failures = [FuzzFailure(method=f.method, path=f.path, url=f.url, mode=f.mode, status=f.status, problems=f.problems,
                            query=_short(f.query), body=_short(f.body), curl=f.curl) for f in engine.failures]
    kinds = sorted({f"{f.method} {f.path}: {'; '.join(f.problems)}" for f in engine.failures})
    problems = state_problems(before, after)
    checks = [
        CheckResult("fuzz.answers", "fuzz", "fail" if failures else "pass",
                    (f"{len(failures)} of {total} answers failed: " + " | ".join(kinds[:5])) if failures
                    else f"{total} answers: no 5xx, security headers and X-Request-ID on each",
                    hint="each failure in the report has its curl command" if failures else None),
        CheckResult("fuzz.coverage", "fuzz", "fail" if untried or not operations else "pass",
                    f"not tried: {', '.join(untried)}" if untried else f"all {len(operations)} operations tried",
                    hint="raise --time-limit" if untried else None),
        CheckResult("fuzz.stack_state", "fuzz", "fail" if problems else "pass",
                    "; ".join(problems) if problems
                    else f"level {after.level}, {len(after.breakers)} breakers closed, no breaker failure counted"),
        CheckResult("fuzz.cleanup", "fuzz", "fail" if cleanup else "pass",
                    cleanup or f"{len(engine.created)} created inventory items removed"),
        *(CheckResult(f"fuzz.skip.{name}", "fuzz", "skip", reason) for name, reason in sorted(engine.skipped.items())),
    ]
    failed = any(c.failed for c in checks)
    return FuzzPhase(
        status="failed" if failed else "passed", reason=failure_summary(checks),
        command=f"stagectl fuzz --max-examples {max_examples} --time-limit {time_limit_s:g} --seed {seed}",
        started_at=started, duration_s=round(time.monotonic() - t0, 3), checks=checks, tool=TOOL,
        requests=total, per_route=dict(sorted(engine.tried.items())), statuses=dict(sorted(engine.statuses.items())),
        failures=failures, seed=seed, max_examples=max_examples, time_limit_s=time_limit_s,
        level_after=after.level)
