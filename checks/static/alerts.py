"""Section `alerts`: the 8 alert rules of docs/contract.md §7 exist, parse, use exposed metrics and are tested."""

from __future__ import annotations

import re

from checks.static._promql import PromQLError, check_syntax, metric_names
from checks.static._util import prom_duration_ok
from stagectl.checking import CheckContext, check, failed, passed, verdict

SECTION = "alerts"
SEVERITIES = {"critical", "warning", "info"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
# docs/contract.md §7: condition → severity.
CONTRACT = {
    "database_breaker_open": "critical",
    "openai_breaker_open": "warning",
    "redis_breaker_open": "warning",
    "s3_breaker_open": "info",
    "level_worse_than_optimal": "warning",
    "level_worse_than_degraded": "critical",
    "error_ratio_5xx": "warning",
    "latency_p95": "warning",
}
# Series Prometheus makes itself or the stack's exporters expose (not the dashboard).
BUILTIN_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
EXPORTER_PREFIXES = ("pg_", "redis_")


def rules(ctx: CheckContext) -> list[tuple[int, int, dict]]:
    """(group index, rule index, rule) of every alerting rule."""
    groups = (ctx.alerts.data or {}).get("groups") or []
    return [(g, r, rule) for g, group in enumerate(groups) if isinstance(group, dict)
            for r, rule in enumerate(group.get("rules") or []) if isinstance(rule, dict) and "alert" in rule]


def classify(expr: str) -> str | None:
    """Which docs/contract.md §7 condition an expression implements (by the metrics and comparison it uses)."""
    text = re.sub(r"\s+", "", str(expr))
    if "circuit_breaker_state" in text:
        for service in ("database", "openai", "redis", "s3"):
            if re.search(rf'service=~?"{service}"', text) and re.search(r"(==1|>=1|>0)", text):
                return f"{service}_breaker_open"
    if "dashboard_degradation_level" in text:
        if re.search(r"(>1|>=2)(?![\d.])", text):
            return "level_worse_than_optimal"
        if re.search(r"(>2|>=3)(?![\d.])", text):
            return "level_worse_than_degraded"
    if "dashboard_requests_total" in text and re.search(r'status=~"5', text):
        return "error_ratio_5xx"
    if "histogram_quantile(0.95" in text and "dashboard_request_duration_seconds_bucket" in text:
        return "latency_p95"
    return None


def _loc(ctx: CheckContext, g: int, r: int, *keys) -> str:
    return ctx.alerts.loc("groups", g, "rules", r, *keys)


@check("alerts.schema", SECTION, "groups → name + rules; every rule has alert + expr and only rule keys.", catches="a rule file Prometheus refuses (or a misspelt `annotation:` silently ignored)")
def schema(ctx: CheckContext):
    doc, problems = ctx.alerts, []
    groups = (doc.data or {}).get("groups") if isinstance(doc.data, dict) else None
    if not isinstance(groups, list) or not groups:
        return failed("no `groups:` list", location=doc.loc())
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or not group.get("name") or not isinstance(group.get("rules"), list):
            problems.append((f"group {g} needs name and rules", doc.loc("groups", g)))
            continue
        for r, rule in enumerate(group["rules"]):
            keys = set(rule) if isinstance(rule, dict) else set()
            if "record" in keys:
                continue
            if not {"alert", "expr"} <= keys or keys - RULE_KEYS:
                problems.append((f"rule {r} of {group['name']}: keys {sorted(keys)}", doc.loc("groups", g, "rules", r)))
    return verdict(problems, f"{len(rules(ctx))} alerting rules well-formed")


@check("alerts.contract_eight", SECTION, "All 8 conditions of docs/contract.md §7 have a rule.", catches="an alert the runbook relies on that was never written")
def contract_eight(ctx: CheckContext):
    found = {classify(rule.get("expr", "")) for _, _, rule in rules(ctx)}
    missing = [c for c in CONTRACT if c not in found]
    return verdict([(f"no rule for {c}", ctx.alerts.rel) for c in missing], "all 8 contract alerts present")


@check("alerts.contract_severities", SECTION, "Each contract alert has the severity docs/contract.md §7 gives it.", catches="a database outage paging as `warning` (or an S3 blip waking someone)")
def contract_severities(ctx: CheckContext):
    problems = []
    for g, r, rule in rules(ctx):
        kind = classify(rule.get("expr", ""))
        severity = (rule.get("labels") or {}).get("severity")
        if kind and severity != CONTRACT[kind]:
            problems.append((f"{rule['alert']}: severity {severity!r}, contract says {CONTRACT[kind]}", _loc(ctx, g, r, "labels")))
    return verdict(problems, "contract severities match")


@check("alerts.severity_labels", SECTION, "Every alert has a severity label of critical, warning or info.", catches="an alert no route matches (never delivered)")
def severity_labels(ctx: CheckContext):
    problems = [
        (f"{rule['alert']}: severity {(rule.get('labels') or {}).get('severity')!r}", _loc(ctx, g, r))
        for g, r, rule in rules(ctx)
        if (rule.get("labels") or {}).get("severity") not in SEVERITIES
    ]
    return verdict(problems, "severity labels valid")


@check("alerts.unique_names", SECTION, "Alert names are unique.", catches="two rules with one name (silences and tests hit the wrong one)")
def unique_names(ctx: CheckContext):
    seen, problems = set(), []
    for g, r, rule in rules(ctx):
        if rule["alert"] in seen:
            problems.append((f"{rule['alert']} defined twice", _loc(ctx, g, r)))
        seen.add(rule["alert"])
    return verdict(problems, f"{len(seen)} distinct alerts")


@check("alerts.promql_syntax", SECTION, "Every expr is well-formed PromQL (balanced, known tokens, no dangling operator).", catches="a rule that fails to load (checked even without promtool)")
def promql_syntax(ctx: CheckContext):
    problems = []
    for g, r, rule in rules(ctx):
        try:
            check_syntax(rule.get("expr", ""))
        except PromQLError as exc:
            problems.append((f"{rule['alert']}: {exc}", _loc(ctx, g, r, "expr")))
    return verdict(problems, "expressions well-formed")


@check("alerts.promtool_rules", SECTION, "`promtool check rules` accepts the rules file.", catches="PromQL that looks balanced but does not parse (wrong function, bad matcher)")
def promtool_rules(ctx: CheckContext):
    run = ctx.tool("promtool_rules")
    if run.returncode != 0:
        return failed("promtool rejects the rules", location=ctx.alerts.rel, evidence=(run.stdout + run.stderr)[-2000:])
    return passed(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "promtool check rules: SUCCESS")


def metric_is_exposed(ctx: CheckContext, name: str) -> bool:
    return name in ctx.exposed_metrics() or name in BUILTIN_SERIES or name.startswith(EXPORTER_PREFIXES)


@check("alerts.metrics_exposed", SECTION, "Every metric an alert uses is exposed by the dashboard (or Prometheus/exporters).", catches="an alert on a metric nobody exports — it can never fire")
def metrics_exposed(ctx: CheckContext):
    problems = []
    for g, r, rule in rules(ctx):
        try:
            names = metric_names(rule.get("expr", ""))
        except PromQLError:
            continue  # alerts.promql_syntax reports it
        problems += [(f"{rule['alert']}: {n} is not exposed by the dashboard", _loc(ctx, g, r, "expr")) for n in sorted(names) if not metric_is_exposed(ctx, n)]
    return verdict(problems, "alert metrics are exposed")


@check("alerts.annotations", SECTION, "Every alert has summary and description annotations.", catches="a page nobody can act on")
def annotations(ctx: CheckContext):
    problems = [
        (f"{rule['alert']}: missing summary/description", _loc(ctx, g, r))
        for g, r, rule in rules(ctx)
        if not {"summary", "description"} <= set(rule.get("annotations") or {})
    ]
    return verdict(problems, "annotations present")


@check("alerts.for_duration", SECTION, "Every alert has a `for:` duration.", catches="alerts flapping on a single bad scrape")
def for_duration(ctx: CheckContext):
    problems = [(f"{rule['alert']}: for {rule.get('for')!r}", _loc(ctx, g, r)) for g, r, rule in rules(ctx) if not prom_duration_ok(rule.get("for"))]
    return verdict(problems, "every alert waits a `for:` duration")


@check("alerts.thresholds_match_env", SECTION, "The 5xx and p95 alerts use ALERT_5XX_RATIO and ALERT_P95_LATENCY_SECONDS.", catches="alert thresholds drifting from the configured ones")
def thresholds_match_env(ctx: CheckContext):
    want = {"error_ratio_5xx": ctx.env.get("ALERT_5XX_RATIO"), "latency_p95": ctx.env.get("ALERT_P95_LATENCY_SECONDS")}
    problems, seen = [], set()
    for g, r, rule in rules(ctx):
        kind = classify(rule.get("expr", ""))
        if kind in want:
            seen.add(kind)
            match = re.search(r">=?\s*([0-9.eE+-]+)\s*$", str(rule["expr"]).strip())
            if not match or want[kind] is None or float(match.group(1)) != float(want[kind]):
                problems.append((f"{rule['alert']}: threshold {match and match.group(1)!r}, env says {want[kind]!r}", _loc(ctx, g, r, "expr")))
    problems += [(f"no {k} rule", ctx.alerts.rel) for k in want if k not in seen]
    return verdict(problems, "thresholds match the env")


@check("alerts.tests_cover_all", SECTION, "The promtool test file loads the rules and tests every alert.", catches="a new alert added without a unit test")
def tests_cover_all(ctx: CheckContext):
    doc = ctx.alert_tests
    data = doc.data if isinstance(doc.data, dict) else {}
    tested = {t.get("alertname") for case in data.get("tests") or [] for t in case.get("alert_rule_test") or []}
    problems = [(f"{rule['alert']} has no alert_rule_test", doc.loc("tests")) for _, _, rule in rules(ctx) if rule["alert"] not in tested]
    if not any(str(f).endswith(ctx.alerts.path.name) for f in data.get("rule_files") or []):
        problems.append((f"rule_files does not load {ctx.alerts.path.name}", doc.loc("rule_files")))
    return verdict(problems, f"{len(tested)} alerts unit-tested")
