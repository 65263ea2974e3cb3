"""The check registry and the builders checks make their results with.

A check is a function ``fn(ctx: CheckContext) -> CheckResult | Iterable[CheckResult]`` registered
with ``@check(id, section, description, catches=...)``. It builds its results with ``passed()``,
``failed()``, ``skipped()`` or ``verdict()``; the runner fills in the id, section and duration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from stagectl.results import CheckResult

if TYPE_CHECKING:
    from stagectl.validate.context import CheckContext


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """One registered check: its stable id, section, what it verifies and the fault it catches."""

    id: str
    section: str
    description: str
    catches: str
    fn: CheckFn
    hint: str | None = None


CheckFn = Callable[["CheckContext"], "CheckResult | Iterable[CheckResult]"]
REGISTRY: dict[str, CheckSpec] = {}
# The order sections are shown in (and the catalogue lists them in); unknown sections go last.
SECTION_ORDER: list[str] = []


def check(id: str, section: str, description: str, *, catches: str, hint: str | None = None):
    """Register a check function under a unique id. `catches` names the fault it detects."""

    def decorate(fn: CheckFn) -> CheckFn:
        if id in REGISTRY and REGISTRY[id].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"check id {id!r} registered twice")
        if not catches.strip():
            raise ValueError(f"check {id!r} must say which fault it catches")
        REGISTRY[id] = CheckSpec(id, section, description, catches, fn, hint)
        if section not in SECTION_ORDER:
            SECTION_ORDER.append(section)
        return fn

    return decorate


# -- result builders: the runner completes id/section, so checks only say what they found ---------


def passed(message: str, *, location: str | None = None, item: str | None = None, evidence: str | None = None) -> CheckResult:
    return CheckResult(_item_id(item), "", "pass", message, location=location, evidence=evidence)


def failed(
    message: str,
    *,
    location: str | None = None,
    hint: str | None = None,
    item: str | None = None,
    evidence: str | None = None,
) -> CheckResult:
    return CheckResult(_item_id(item), "", "fail", message, location=location, hint=hint, evidence=evidence)


def skipped(reason: str, *, item: str | None = None) -> CheckResult:
    return CheckResult(_item_id(item), "", "skip", reason)


def verdict(problems: Sequence[tuple[str, str | None]], ok_message: str, *, hint: str | None = None) -> CheckResult:
    """One result for a list of (problem, location) pairs: pass when empty, else fail naming all."""
    if not problems:
        return passed(ok_message)
    text = "; ".join(p for p, _ in problems)
    first_location = next((loc for _, loc in problems if loc), None)
    return failed(text, location=first_location, hint=hint)


def _item_id(item: str | None) -> str:
    return f"[{item}]" if item else ""
