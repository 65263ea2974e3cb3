"""Section `degradation`: weights, thresholds and probe timing of the degradation manager (docs/contract.md §4)."""

from __future__ import annotations

from checks.static._util import as_int
from stagectl.checking import CheckContext, check, verdict

SECTION = "degradation"
SERVICES = ("database", "openai", "redis", "s3")
THRESHOLDS = ("OPTIMAL_THRESHOLD", "DEGRADED_THRESHOLD", "LIMITED_THRESHOLD", "MINIMAL_THRESHOLD")
# docs/contract.md §4 defaults.
CONTRACT_WEIGHTS = {"database": 50, "openai": 30, "redis": 15, "s3": 5}
CONTRACT_THRESHOLDS = (90, 70, 60, 40)
BUDGETS = ("DB_HEALTH_BUDGET_MS", "OPENAI_HEALTH_BUDGET_MS", "REDIS_HEALTH_BUDGET_MS", "S3_HEALTH_BUDGET_MS")


def parse_weights(text: str) -> tuple[dict[str, int], list[str]]:
    """'database:50,openai:30' → ({...}, problems)."""
    weights, problems = {}, []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition(":")
        if not sep or not value.strip().isdigit():
            problems.append(f"{part!r} is not name:integer")
        elif name.strip() in weights:
            problems.append(f"{name.strip()} weighted twice")
        else:
            weights[name.strip()] = int(value)
    return weights, problems


def _weights(ctx: CheckContext):
    return parse_weights(ctx.env.get("SERVICE_WEIGHTS", ""))


@check("degradation.weights_format", SECTION, "SERVICE_WEIGHTS is a list of name:integer.", catches="the dashboard failing to start on an unparsable weight")
def weights_format(ctx: CheckContext):
    _, problems = _weights(ctx)
    return verdict([(p, ctx.env_example.loc("SERVICE_WEIGHTS")) for p in problems], "SERVICE_WEIGHTS parses")


@check("degradation.weights_services", SECTION, "SERVICE_WEIGHTS names exactly database, openai, redis, s3.", catches="a service that never affects the health score (or an unknown one)")
def weights_services(ctx: CheckContext):
    weights, _ = _weights(ctx)
    problems = [] if set(weights) == set(SERVICES) else [(f"weights name {sorted(weights)}, expected {sorted(SERVICES)}", ctx.env_example.loc("SERVICE_WEIGHTS"))]
    return verdict(problems, "weights cover the four services")


@check("degradation.weights_sum", SECTION, "SERVICE_WEIGHTS sums to 100.", catches="a health score that can never reach the OPTIMAL threshold (or exceeds 100)")
def weights_sum(ctx: CheckContext):
    weights, _ = _weights(ctx)
    total = sum(weights.values())
    problems = [] if total == 100 else [(f"weights sum to {total}", ctx.env_example.loc("SERVICE_WEIGHTS"))]
    return verdict(problems, "weights sum to 100")


@check("degradation.thresholds_ordered", SECTION, "OPTIMAL > DEGRADED > LIMITED > MINIMAL, all within 0–100.", catches="an unreachable or overlapping degradation level")
def thresholds_ordered(ctx: CheckContext):
    values = [as_int(ctx.env.get(n)) for n in THRESHOLDS]
    loc = ctx.env_example.loc(THRESHOLDS[0])
    if any(v is None or not 0 <= v <= 100 for v in values):
        return verdict([(f"thresholds {values} must be integers in 0–100", loc)], "")
    ordered = all(a > b for a, b in zip(values, values[1:]))
    return verdict([] if ordered else [(f"thresholds {values} are not strictly decreasing", loc)], f"thresholds {values}")


@check("degradation.contract_defaults", SECTION, "The example carries docs/contract.md §4's weights and thresholds.", catches="the documented level table and the shipped defaults disagreeing")
def contract_defaults(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    weights, _ = parse_weights(doc.values.get("SERVICE_WEIGHTS", ""))
    if weights != CONTRACT_WEIGHTS:
        problems.append((f"example weights {weights}, contract {CONTRACT_WEIGHTS}", doc.loc("SERVICE_WEIGHTS")))
    for name, want in zip(THRESHOLDS, CONTRACT_THRESHOLDS):
        if doc.values.get(name) != str(want):
            problems.append((f"{name}={doc.values.get(name)!r}, contract {want}", doc.loc(name)))
    return verdict(problems, "example matches the contract's weights and thresholds")


@check("degradation.interval_gt_timeout", SECTION, "HEALTH_CHECK_INTERVAL > HEALTH_CHECK_TIMEOUT > 0.", catches="probe rounds overlapping (a slow probe still running when the next starts)")
def interval_gt_timeout(ctx: CheckContext):
    interval, timeout = as_int(ctx.env.get("HEALTH_CHECK_INTERVAL")), as_int(ctx.env.get("HEALTH_CHECK_TIMEOUT"))
    ok = interval is not None and timeout is not None and interval > timeout > 0
    problems = [] if ok else [(f"interval {interval}, timeout {timeout}", ctx.env_example.loc("HEALTH_CHECK_INTERVAL"))]
    return verdict(problems, f"interval {interval}s > timeout {timeout}s")


@check("degradation.recovery_checks", SECTION, "DEGRADATION_RECOVERY_CHECKS is an integer ≥ 1.", catches="the level never improving (0) or flapping")
def recovery_checks(ctx: CheckContext):
    value = as_int(ctx.env.get("DEGRADATION_RECOVERY_CHECKS"))
    problems = [] if value is not None and value >= 1 else [(f"DEGRADATION_RECOVERY_CHECKS={ctx.env.get('DEGRADATION_RECOVERY_CHECKS')!r}", ctx.env_example.loc("DEGRADATION_RECOVERY_CHECKS"))]
    return verdict(problems, f"{value} consecutive checks to recover")


@check("degradation.budgets_within_timeout", SECTION, "Each *_HEALTH_BUDGET_MS is positive and below HEALTH_CHECK_TIMEOUT.", catches="a 'degraded' latency budget no probe can ever exceed before timing out")
def budgets_within_timeout(ctx: CheckContext):
    timeout = as_int(ctx.env.get("HEALTH_CHECK_TIMEOUT")) or 0
    problems = []
    for name in BUDGETS:
        budget = as_int(ctx.env.get(name))
        if budget is None or not 0 < budget < timeout * 1000:
            problems.append((f"{name}={ctx.env.get(name)!r} (timeout {timeout}s)", ctx.env_example.loc(name)))
    return verdict(problems, "latency budgets below the probe timeout")
