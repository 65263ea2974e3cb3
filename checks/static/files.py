"""Section `files`: every rendered file and input exists where the stack expects it, and parses."""

from __future__ import annotations

import os

from stagectl.checking import (
    ALERT_RULES,
    ALERT_TESTS,
    COMPOSE_ENV,
    COMPOSE_FILE,
    DASHBOARD_PACKAGE,
    GRAFANA_DASHBOARD_PROVIDERS,
    GRAFANA_DATASOURCES,
    PROMETHEUS_CONFIG,
    S3_INIT,
    CheckContext,
    MissingInput,
    check,
    failed,
    passed,
    verdict,
)

SECTION = "files"
RENDER_HINT = "run `stagectl render` to (re)create the deployment files"


def _exists(ctx: CheckContext, name: str):
    path = ctx.rendered(name)
    if path.is_file():
        return passed(f"{ctx.rel(path)} exists")
    return failed(f"{ctx.rel(path)} is missing", location=ctx.rel(path), hint=RENDER_HINT)


@check("files.compose_file", SECTION, "The rendered compose file exists.", catches="render not run or compose file deleted")
def compose_file(ctx: CheckContext):
    return _exists(ctx, COMPOSE_FILE)


@check("files.compose_env", SECTION, "The rendered compose env file exists.", catches="compose started without its .env (every ${VAR} empty)")
def compose_env(ctx: CheckContext):
    return _exists(ctx, COMPOSE_ENV)


@check("files.prometheus_config", SECTION, "The Prometheus config exists.", catches="Prometheus cannot start (no config to read)")
def prometheus_config(ctx: CheckContext):
    return _exists(ctx, PROMETHEUS_CONFIG)


@check("files.alert_rules", SECTION, "The alert rules file exists.", catches="alerts silently absent")
def alert_rules(ctx: CheckContext):
    return _exists(ctx, ALERT_RULES)


@check("files.alert_tests", SECTION, "The promtool unit tests of the alert rules exist.", catches="alert rules shipped untested")
def alert_tests(ctx: CheckContext):
    return _exists(ctx, ALERT_TESTS)


@check("files.s3_init", SECTION, "The S3 init script exists and is executable.", catches="bucket never created, or script not executable in the container")
def s3_init(ctx: CheckContext):
    path = ctx.rendered(S3_INIT)
    if not path.is_file():
        return failed(f"{ctx.rel(path)} is missing", location=ctx.rel(path), hint=RENDER_HINT)
    if not os.access(path, os.X_OK):
        return failed(f"{ctx.rel(path)} is not executable", location=ctx.rel(path), hint=f"chmod +x {ctx.rel(path)}")
    return passed(f"{ctx.rel(path)} exists and is executable")


def _yaml_dir(ctx: CheckContext, subdir: str, what: str):
    try:
        docs = ctx.yaml_files(subdir)
    except MissingInput as exc:
        return failed(str(exc), location=ctx.rel(ctx.rendered(subdir)), hint=RENDER_HINT)
    return passed(f"{len(docs)} {what} file(s): " + ", ".join(d.rel for d in docs))


@check("files.grafana_datasources", SECTION, "Grafana datasource provisioning exists and parses.", catches="Grafana without a Prometheus datasource")
def grafana_datasources(ctx: CheckContext):
    return _yaml_dir(ctx, GRAFANA_DATASOURCES, "datasource")


@check("files.grafana_dashboards", SECTION, "Grafana dashboard provisioning exists and parses.", catches="Grafana starts with no dashboards")
def grafana_dashboards(ctx: CheckContext):
    return _yaml_dir(ctx, GRAFANA_DASHBOARD_PROVIDERS, "dashboard provider")


@check("files.env_example", SECTION, "The env interface (.env.staging.example) exists and every line is NAME=value or a comment.", catches="a malformed line that compose and the dashboard read differently")
def env_example(ctx: CheckContext):
    path = ctx.env_example_path
    if not path.is_file():
        return failed(f"{ctx.rel(path)} is missing", location=ctx.rel(path))
    doc = ctx.env_example
    problems = [(f"line {n}: expected NAME=value, found {text.strip()[:40]!r}", f"{doc.rel}:{n}") for n, text in doc.bad_lines]
    return verdict(problems, f"{len(doc.entries)} variables in {doc.rel}")


@check("files.dashboard_package", SECTION, "The dashboard package (system under test) exists.", catches="stack built without the API it is meant to test")
def dashboard_package(ctx: CheckContext):
    init = ctx.root / DASHBOARD_PACKAGE / "__init__.py"
    if init.is_file():
        return passed(f"{ctx.rel(init)} exists")
    return failed(f"{ctx.rel(init)} is missing", location=ctx.rel(init))


@check("files.yaml_parses", SECTION, "Every YAML file under the render dir parses.", catches="a template rendering broken YAML")
def yaml_parses(ctx: CheckContext):
    problems = []
    files = sorted(p for p in ctx.render_dir.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    for path in files:
        try:
            ctx.yaml(path)
        except MissingInput as exc:
            problems.append((str(exc), ctx.rel(path)))
    if not files:
        return failed(f"no YAML files under {ctx.rel(ctx.render_dir)}", hint=RENDER_HINT)
    return verdict(problems, f"{len(files)} YAML files parse")


@check("files.no_leftovers", SECTION, "No merge/editor leftovers (*.orig, *.rej, *~, *.swp) in the render dir.", catches="hand edits or a botched merge in rendered output")
def no_leftovers(ctx: CheckContext):
    suffixes = (".orig", ".rej", "~", ".swp", ".bak")
    found = [p for p in ctx.render_dir.rglob("*") if p.is_file() and p.name.endswith(suffixes)]
    return verdict([(f"{ctx.rel(p)} should not be there", ctx.rel(p)) for p in found], "no leftover files")
