"""The validate phase: the static checks against the spec, the env files and the rendered files.

Entry point: `validate_phase()` (the report's ValidatePhase); `validate()` gives the bare results
for `stagectl validate`. The parts: `inputs` (what the checks read), `context` (CheckContext),
`registry` (@check and the result builders), `runner`, `catalogue` (docs/checks.md). Check modules
import their API from `stagectl.checking`. Imports stay inside the functions: every check module
imports this package, and the registry must not pull in pydantic or the loader.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagectl.report.model import ValidatePhase
    from stagectl.results import CheckResult

SUITE = "stagectl.validate"


def mask_result(result: CheckResult, mask: Callable[[str], str]) -> CheckResult:
    """The result with every text field passed through `mask`."""
    return dataclasses.replace(
        result, message=mask(result.message),
        location=mask(result.location) if result.location else result.location,
        hint=mask(result.hint) if result.hint else result.hint,
        evidence=mask(result.evidence) if result.evidence else result.evidence)


def validate(sections: Sequence[str] = ()) -> tuple[list[CheckResult], float]:
    """Load the project, run the (selected) checks; results are masked. Raises ConfigError (an
    unknown section, or the loader's)."""
    from stagectl import context
    from stagectl.errors import ConfigError
    from stagectl.validate.context import CheckContext
    from stagectl.validate.registry import SECTION_ORDER
    from stagectl.validate.runner import load_builtin_checks, run_checks, select

    project = context.get_project(allow_example=True)
    registry = load_builtin_checks(project.root)
    known = {spec.section for spec in registry.values()}
    unknown = sorted(set(sections) - known)
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(unknown)}", hint=f"sections: {', '.join(SECTION_ORDER)}")
    run = run_checks(CheckContext(project), select(sections or None))
    return [mask_result(r, context.mask) for r in run.results], run.duration_s


def validate_phase() -> ValidatePhase:
    """Every static check, as the report's validate phase."""
    from stagectl.report.model import ValidatePhase
    from stagectl.results import failure_summary, phase_status

    started = dt.datetime.now(dt.timezone.utc)
    results, duration = validate()
    return ValidatePhase(status=phase_status(results), reason=failure_summary(results), command="stagectl validate",
                         started_at=started, duration_s=round(duration, 4), checks=results)
