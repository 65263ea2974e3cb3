"""Section `breakers`: the 12 circuit-breaker variables of docs/contract.md §3 are present and sane."""

from __future__ import annotations

import re

from checks.static._util import TRUE_FALSE
from stagectl.checking import CheckContext, check, verdict

SECTION = "breakers"
# docs/contract.md §3 — the defaults the example must carry (prefix → threshold, recovery s, half-open).
CONTRACT_DEFAULTS = {
    "OPENAI": (5, 30, 2),
    "DB": (3, 20, 1),
    "REDIS": (5, 15, 2),
    "S3": (4, 25, 2),
}
FIELDS = ("FAILURE_THRESHOLD", "RECOVERY_TIMEOUT", "HALF_OPEN_REQUESTS")
BREAKER_VARS = [f"{p}_CB_{f}" for p in CONTRACT_DEFAULTS for f in FIELDS]
FALLBACK_FLAGS = ("DB_DEGRADED_READ_ONLY", "REDIS_CB_BYPASS_CACHE")


@check("breakers.present", SECTION, "All 12 *_CB_* variables are in the example.", catches="a breaker falling back to a hard-coded value (the variables exist but nothing reads them)")
def present(ctx: CheckContext):
    doc = ctx.env_example
    problems = [(f"{name} is missing", doc.rel) for name in BREAKER_VARS if name not in doc.values]
    return verdict(problems, "12 breaker variables present")


@check("breakers.positive_integers", SECTION, "Every breaker variable is a positive integer in the effective env.", catches="`0` (breaker never closes / opens at once) or a non-number crashing the dashboard")
def positive_integers(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    for name in BREAKER_VARS:
        value = str(ctx.env.get(name, ""))
        if not (value.isdigit() and int(value) > 0):
            problems.append((f"{name}={value!r} is not a positive integer", doc.loc(name)))
    return verdict(problems, "breaker settings are positive integers")


@check("breakers.contract_defaults", SECTION, "The example carries docs/contract.md §3's defaults.", catches="the documented breaker table and the shipped defaults disagreeing")
def contract_defaults(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    for prefix, expected in CONTRACT_DEFAULTS.items():
        for field, want in zip(FIELDS, expected):
            name = f"{prefix}_CB_{field}"
            if doc.values.get(name) != str(want):
                problems.append((f"{name}={doc.values.get(name)!r}, contract says {want}", doc.loc(name)))
    return verdict(problems, "example matches the contract's breaker table")


@check("breakers.no_unknown", SECTION, "No other *_CB_* variable exists (besides REDIS_CB_BYPASS_CACHE).", catches="a misspelt breaker variable (e.g. DB_CB_FAILURE_TRESHOLD) that nothing reads")
def no_unknown(ctx: CheckContext):
    doc, allowed = ctx.env_example, {*BREAKER_VARS, "REDIS_CB_BYPASS_CACHE"}
    problems = [(f"{e.name} is not a known breaker setting", f"{doc.rel}:{e.line}") for e in doc.entries if re.search(r"_CB_", e.name) and e.name not in allowed]
    return verdict(problems, "no unknown breaker variables")


@check("breakers.fallback_flags", SECTION, "DB_DEGRADED_READ_ONLY and REDIS_CB_BYPASS_CACHE are true/false.", catches="fallbacks silently disabled by a malformed flag")
def fallback_flags(ctx: CheckContext):
    doc = ctx.env_example
    problems = [(f"{n}={ctx.env.get(n)!r}", doc.loc(n)) for n in FALLBACK_FLAGS if ctx.env.get(n) not in TRUE_FALSE]
    return verdict(problems, "fallback flags are booleans")


@check("breakers.half_open_within_threshold", SECTION, "Half-open trial calls do not exceed the failure threshold.", catches="a half-open breaker letting more trial traffic through than it took to open it")
def half_open_within_threshold(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    for prefix in CONTRACT_DEFAULTS:
        trials, threshold = ctx.env.get(f"{prefix}_CB_HALF_OPEN_REQUESTS", ""), ctx.env.get(f"{prefix}_CB_FAILURE_THRESHOLD", "")
        if trials.isdigit() and threshold.isdigit() and int(trials) > int(threshold):
            problems.append((f"{prefix}: {trials} half-open calls > threshold {threshold}", doc.loc(f"{prefix}_CB_HALF_OPEN_REQUESTS")))
    return verdict(problems, "half-open trials within thresholds")
