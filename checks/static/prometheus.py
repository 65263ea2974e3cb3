"""Section `prometheus`: the Prometheus config is valid and scrapes what the stack exposes."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from checks.static._util import prom_duration_ok
from stagectl.checking import ALERT_RULES, CheckContext, check, failed, passed, verdict

SECTION = "prometheus"
# Prometheus 2.x configuration file, top-level keys.
TOP_LEVEL_KEYS = {"global", "rule_files", "scrape_config_files", "scrape_configs", "alerting", "remote_write", "remote_read", "storage", "tracing", "runtime", "otlp"}
LOOPBACK = ("127.0.0.1", "localhost")


def scrape_jobs(ctx: CheckContext) -> list[dict]:
    return [j for j in (ctx.prometheus.data or {}).get("scrape_configs") or [] if isinstance(j, dict)]


def targets(job: dict) -> list[str]:
    return [str(t) for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]


def target_service(ctx: CheckContext, target: str) -> str | None:
    """The stack service a host:port target points at: compose name + container port, loopback +
    host port (local backend), or loopback + Prometheus' own container port (its self-scrape)."""
    host, _, port = target.rpartition(":")
    for name, spec in ctx.stack.services.items():
        if (host == name and port == str(spec.container_port)) or (host in LOOPBACK and port == str(spec.port)):
            return name
        if host in LOOPBACK and spec.runner == "prometheus" and port == str(spec.container_port):
            return name
    return None


def _job_for(ctx: CheckContext, service: str) -> dict | None:
    return next((j for j in scrape_jobs(ctx) if any(target_service(ctx, t) == service for t in targets(j))), None)


@check("prometheus.top_level_keys", SECTION, "Only Prometheus config top-level keys.", catches="a misspelt section Prometheus refuses to load")
def top_level_keys(ctx: CheckContext):
    doc = ctx.prometheus
    if not isinstance(doc.data, dict):
        return failed("the config is not a mapping", location=doc.loc())
    return verdict([(f"unknown key {k!r}", doc.loc(k)) for k in doc.data if k not in TOP_LEVEL_KEYS], "top-level keys valid")


@check("prometheus.promtool_config", SECTION, "`promtool check config --syntax-only` accepts the config.", catches="a config Prometheus refuses at start (Prometheus never starts)")
def promtool_config(ctx: CheckContext):
    run = ctx.tool("promtool_config")
    if run.returncode != 0:
        return failed("promtool rejects the config", location=ctx.prometheus.rel, evidence=(run.stdout + run.stderr)[-2000:])
    return passed("promtool check config: SUCCESS")


@check("prometheus.intervals", SECTION, "global scrape_interval equals PROMETHEUS_SCRAPE_INTERVAL; evaluation_interval is a duration.", catches="scrapes at a rate other than configured (alerts' `for:` math off)")
def intervals(ctx: CheckContext):
    doc = ctx.prometheus
    glob = (doc.data or {}).get("global") or {}
    problems = []
    if glob.get("scrape_interval") != ctx.env.get("PROMETHEUS_SCRAPE_INTERVAL"):
        problems.append((f"scrape_interval {glob.get('scrape_interval')!r} ≠ PROMETHEUS_SCRAPE_INTERVAL {ctx.env.get('PROMETHEUS_SCRAPE_INTERVAL')!r}", doc.loc("global", "scrape_interval")))
    if not prom_duration_ok(glob.get("evaluation_interval")):
        problems.append((f"evaluation_interval {glob.get('evaluation_interval')!r} is not a duration", doc.loc("global")))
    return verdict(problems, f"scrape every {glob.get('scrape_interval')}")


@check("prometheus.rule_files", SECTION, "rule_files loads the rendered alert rules.", catches="alert rules that exist on disk but are never loaded")
def rule_files(ctx: CheckContext):
    doc = ctx.prometheus
    names = [PurePosixPath(str(p)).name for p in (doc.data or {}).get("rule_files") or []]
    wanted = PurePosixPath(ALERT_RULES).name
    return verdict([] if wanted in names else [(f"rule_files {names} does not include {wanted}", doc.loc("rule_files"))], f"loads {wanted}")


@check("prometheus.job_names_unique", SECTION, "Scrape job names are unique.", catches="Prometheus refusing a config with duplicate job_name")
def job_names_unique(ctx: CheckContext):
    doc, seen, problems = ctx.prometheus, set(), []
    for i, job in enumerate(scrape_jobs(ctx)):
        name = job.get("job_name")
        if not name or name in seen:
            problems.append((f"job_name {name!r} missing or duplicate", doc.loc("scrape_configs", i)))
        seen.add(name)
    return verdict(problems, f"{len(seen)} jobs")


@check("prometheus.targets_known", SECTION, "Every static target is a stack service at its container port (or 127.0.0.1 at its host port).", catches="a scrape target pointing at a wrong port or a service that does not exist")
def targets_known(ctx: CheckContext):
    doc = ctx.prometheus
    problems = [
        (f"target {t} is no service of the stack", doc.loc("scrape_configs", i))
        for i, job in enumerate(scrape_jobs(ctx))
        for t in targets(job)
        if target_service(ctx, t) is None
    ]
    count = sum(len(targets(j)) for j in scrape_jobs(ctx))
    return verdict(problems, f"{count} targets, all stack services") if count else failed("no static targets", location=doc.loc("scrape_configs"))


@check("prometheus.dashboard_job", SECTION, "A job scrapes the dashboard's /metrics with an Authorization credential.", catches="no dashboard metrics (so no alerts can fire), or 401s because Prometheus sends no key")
def dashboard_job(ctx: CheckContext):
    doc, job = ctx.prometheus, _job_for(ctx, "dashboard")
    if job is None:
        return failed("no scrape job targets the dashboard", location=doc.loc("scrape_configs"))
    auth = job.get("authorization") or {}
    problems = []
    if job.get("metrics_path", "/metrics") != "/metrics":
        problems.append((f"metrics_path {job.get('metrics_path')!r}", doc.loc("scrape_configs")))
    if not (auth.get("credentials") or auth.get("credentials_file") or job.get("bearer_token_file")):
        problems.append(("dashboard job sends no Authorization credential (docs/contract.md §6: Prometheus uses Bearer)", doc.loc("scrape_configs")))
    return verdict(problems, f"job {job.get('job_name')} scrapes the dashboard with a bearer credential")


@check("prometheus.exporter_jobs", SECTION, "The PostgreSQL and Redis exporters of the spec are scraped.", catches="database/cache metrics silently missing from dashboards")
def exporter_jobs(ctx: CheckContext):
    doc = ctx.prometheus
    wanted = [n for n, s in ctx.stack.services.items() if s.runner in ("postgres_exporter", "redis_exporter") and s.enabled]
    problems = [(f"no job scrapes {name}", doc.loc("scrape_configs")) for name in wanted if _job_for(ctx, name) is None]
    return verdict(problems, f"exporters scraped: {', '.join(wanted)}")


_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def _dashboard_label_names(ctx: CheckContext) -> set[str]:
    """Label names the alert rules select on in series the dashboard exposes."""
    exposed, names = ctx.exposed_metrics(), set()
    for group in (ctx.alerts.data or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            for metric, selector in _SELECTOR.findall(str(rule.get("expr", ""))):
                if metric in exposed:
                    names.update(_MATCHER.findall(selector))
    return names


@check("prometheus.target_labels_kept", SECTION, "The dashboard job's target labels do not overwrite a label the alert rules select on in its series (unless honor_labels: true).", catches="an alert that can never fire: the target's `service: dashboard` renames the metric's own `service` to exported_service")
def target_labels_kept(ctx: CheckContext):
    doc, job = ctx.prometheus, _job_for(ctx, "dashboard")
    if job is None:
        return failed("no scrape job targets the dashboard", location=doc.loc("scrape_configs"))
    used, problems = _dashboard_label_names(ctx), []
    if job.get("honor_labels") is not True:
        index = scrape_jobs(ctx).index(job)
        for static in job.get("static_configs") or []:
            clash = sorted(set(static.get("labels") or {}) & used)
            if clash:
                problems.append((f"job {job.get('job_name')}: target label(s) {', '.join(clash)} replace the dashboard's own, "
                                 "which the alert rules select on (set honor_labels: true or drop the label)", doc.loc("scrape_configs", index)))
    return verdict(problems, f"the alert rules' labels {sorted(used)} reach Prometheus as the dashboard exposes them")
