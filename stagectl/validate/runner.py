"""Run registered checks against one CheckContext: a check that raises is an `error` result, a
missing input a reasoned skip, and the other checks still run."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from stagectl.results import CheckResult
from stagectl.validate.context import CheckContext
from stagectl.validate.inputs import MissingInput
from stagectl.validate.registry import REGISTRY, SECTION_ORDER, CheckSpec


@dataclasses.dataclass(frozen=True)
class RunResult:
    results: list[CheckResult]
    duration_s: float


def load_builtin_checks(root: Path | None = None) -> dict[str, CheckSpec]:
    """Import checks/static/* (registering every built-in check) and return the registry."""
    try:
        importlib.import_module("checks.static")
    except ModuleNotFoundError as exc:
        # stagectl run from a checkout that is not pip-installed: `checks` sits next to `stagectl`.
        if exc.name not in ("checks", "checks.static"):
            raise
        sys.path.insert(0, str(root or Path(__file__).resolve().parents[2]))
        importlib.import_module("checks.static")
    return REGISTRY


def select(sections: Iterable[str] | None = None, registry: dict[str, CheckSpec] | None = None) -> list[CheckSpec]:
    """The checks to run, in section order then id order; `sections` filters by section name."""
    registry = REGISTRY if registry is None else registry
    wanted = set(sections) if sections else None
    order = {name: i for i, name in enumerate(SECTION_ORDER)}
    specs = [s for s in registry.values() if wanted is None or s.section in wanted]
    return sorted(specs, key=lambda s: (order.get(s.section, len(order)), s.id))


def run_one(spec: CheckSpec, ctx: CheckContext) -> list[CheckResult]:
    """Run one check; an exception becomes an `error` result, a MissingInput a reasoned skip."""
    start = time.perf_counter()
    try:
        out = spec.fn(ctx)
        raw = [out] if isinstance(out, CheckResult) else list(out)
        if not raw:
            raise RuntimeError("check returned no result")
    except MissingInput as exc:
        raw = [CheckResult("", "", "skip", f"input unavailable: {exc}")]
    except Exception as exc:  # a broken check must not hide the others
        raw = [CheckResult("", "", "error", f"check raised {type(exc).__name__}: {exc}", hint="this is a bug in the check or an unreadable input")]
    elapsed = (time.perf_counter() - start) * 1000 / len(raw)
    return [
        dataclasses.replace(
            r,
            id=spec.id + r.id,
            section=spec.section,
            hint=r.hint or (spec.hint if r.status == "fail" else None),
            duration_ms=round(elapsed, 3),
        )
        for r in raw
    ]


def run_checks(ctx: CheckContext, specs: Sequence[CheckSpec] | None = None) -> RunResult:
    """Run checks (default: every built-in one) against one context."""
    start = time.perf_counter()
    specs = select(registry=load_builtin_checks()) if specs is None else specs
    ctx.start_background()
    results: list[CheckResult] = []
    try:
        for spec in specs:
            results.extend(run_one(spec, ctx))
    finally:
        ctx.close()
    return RunResult(results, time.perf_counter() - start)
