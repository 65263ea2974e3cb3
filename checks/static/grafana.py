"""Section `grafana`: provisioning points at Prometheus and dashboards only query exposed metrics."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from checks.static._promql import PromQLError, check_syntax, metric_names
from checks.static._util import resolve, url_host_port, volume_mounts
from stagectl.checking import GRAFANA_DASHBOARD_PROVIDERS, GRAFANA_DATASOURCES, CheckContext, MissingInput, check, failed, verdict

SECTION = "grafana"


def datasources(ctx: CheckContext):
    for doc in ctx.yaml_files(GRAFANA_DATASOURCES):
        for i, ds in enumerate((doc.data or {}).get("datasources") or []):
            yield doc, i, ds if isinstance(ds, dict) else {}


def providers(ctx: CheckContext):
    for doc in ctx.yaml_files(GRAFANA_DASHBOARD_PROVIDERS):
        for i, p in enumerate((doc.data or {}).get("providers") or []):
            yield doc, i, p if isinstance(p, dict) else {}


def host_path(ctx: CheckContext, container_path: str) -> Path | None:
    """Map a path inside the grafana container to the repo through its bind mounts."""
    wanted = PurePosixPath(container_path)
    for mount in volume_mounts(ctx.compose_services().get("grafana", {})):
        target = PurePosixPath(str(mount["target"]))
        if mount["type"] == "bind" and (wanted == target or target in wanted.parents):
            return ctx.compose.path.parent / resolve(mount["source"], ctx.env) / wanted.relative_to(target)
    return None


def dashboard_files(ctx: CheckContext) -> list[Path]:
    files: list[Path] = []
    for _, _, provider in providers(ctx):
        folder = host_path(ctx, str((provider.get("options") or {}).get("path", "")))
        if folder and folder.is_dir():
            files += sorted(folder.rglob("*.json"))
    if not files:
        raise MissingInput("no dashboard JSON reachable through the providers (see grafana.provider_path)")
    return files


def dashboards(ctx: CheckContext) -> list[tuple[Path, dict]]:
    out = []
    for path in dashboard_files(ctx):
        try:
            out.append((path, json.loads(ctx.text(path))))
        except json.JSONDecodeError as exc:
            raise MissingInput(f"{ctx.rel(path)} is not JSON ({exc})") from None
    return out


def panel_targets(dashboard: dict):
    def walk(panels):
        for panel in panels or []:
            yield panel
            yield from walk(panel.get("panels"))

    for panel in walk(dashboard.get("panels")):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield panel, target


@check("grafana.datasource_schema", SECTION, "Datasource files: apiVersion 1; each datasource has name, type, url and a valid access mode.", catches="Grafana ignoring a provisioning file at start")
def datasource_schema(ctx: CheckContext):
    problems = []
    for doc in ctx.yaml_files(GRAFANA_DATASOURCES):
        if (doc.data or {}).get("apiVersion") != 1:
            problems.append((f"{doc.rel}: apiVersion must be 1", doc.loc("apiVersion")))
    for doc, i, ds in datasources(ctx):
        if not all(ds.get(k) for k in ("name", "type", "url")) or ds.get("access", "proxy") not in ("proxy", "direct"):
            problems.append((f"datasource {i}: needs name, type, url and access proxy/direct", doc.loc("datasources", i)))
    return verdict(problems, "datasource provisioning well-formed")


@check("grafana.prometheus_datasource", SECTION, "A prometheus datasource points at the stack's Prometheus.", catches="empty Grafana panels (datasource URL wrong or on the host port inside the network)")
def prometheus_datasource(ctx: CheckContext):
    spec = ctx.stack.services.get("prometheus")
    for _doc, _i, ds in datasources(ctx):
        host, port = url_host_port(str(ds.get("url", "")))
        if ds.get("type") == "prometheus" and spec and (
            (host == "prometheus" and port == spec.container_port) or (host in ("127.0.0.1", "localhost") and port == spec.port)
        ):
            return verdict([], f"{ds.get('name')} → {ds.get('url')}")
    return failed("no prometheus datasource points at the stack's Prometheus", location=ctx.rel(ctx.rendered(GRAFANA_DATASOURCES)))


@check("grafana.single_default", SECTION, "Exactly one datasource is the default.", catches="Grafana refusing to provision two defaults (or panels with no datasource)")
def single_default(ctx: CheckContext):
    defaults = [(doc, i) for doc, i, ds in datasources(ctx) if ds.get("isDefault") is True]
    if len(defaults) == 1:
        return verdict([], "one default datasource")
    return failed(f"{len(defaults)} default datasources", location=ctx.rel(ctx.rendered(GRAFANA_DATASOURCES)))


@check("grafana.provider_schema", SECTION, "Dashboard providers: apiVersion 1, type file, options.path set.", catches="dashboards never loaded")
def provider_schema(ctx: CheckContext):
    problems = []
    for doc in ctx.yaml_files(GRAFANA_DASHBOARD_PROVIDERS):
        if (doc.data or {}).get("apiVersion") != 1 or not (doc.data or {}).get("providers"):
            problems.append((f"{doc.rel}: needs apiVersion 1 and providers", doc.loc()))
    for doc, i, p in providers(ctx):
        if not p.get("name") or p.get("type", "file") != "file" or not (p.get("options") or {}).get("path"):
            problems.append((f"provider {i}: needs name, type file, options.path", doc.loc("providers", i)))
    return verdict(problems, "dashboard providers well-formed")


@check("grafana.provider_path", SECTION, "Each provider path is mounted into Grafana from a folder holding dashboard JSON.", catches="a provider path nothing is mounted at (Grafana shows no dashboards)")
def provider_path(ctx: CheckContext):
    problems = []
    for doc, i, p in providers(ctx):
        path = str((p.get("options") or {}).get("path", ""))
        folder = host_path(ctx, path)
        if folder is None or not any(folder.rglob("*.json")):
            problems.append((f"{path} maps to {ctx.rel(folder) if folder else 'no bind mount'} with no dashboard JSON", doc.loc("providers", i, "options")))
    return verdict(problems, "provider paths hold dashboards")


@check("grafana.dashboards_valid", SECTION, "Every dashboard JSON parses and has a title and a unique uid.", catches="a dashboard Grafana rejects, or two overwriting each other")
def dashboards_valid(ctx: CheckContext):
    problems, uids = [], set()
    for path in dashboard_files(ctx):
        try:
            data = json.loads(ctx.text(path))
        except json.JSONDecodeError as exc:
            problems.append((f"{ctx.rel(path)}: {exc}", ctx.rel(path)))
            continue
        if not data.get("title") or not data.get("uid") or data["uid"] in uids:
            problems.append((f"{ctx.rel(path)}: title/uid missing or uid duplicated", ctx.rel(path)))
        uids.add(data.get("uid"))
    return verdict(problems, f"{len(uids)} dashboards")


@check("grafana.queries_parse", SECTION, "Every panel query is well-formed PromQL.", catches="a panel showing an error instead of data")
def queries_parse(ctx: CheckContext):
    problems, count = [], 0
    for path, data in dashboards(ctx):
        for panel, target in panel_targets(data):
            count += 1
            try:
                check_syntax(target["expr"])
            except PromQLError as exc:
                problems.append((f"{ctx.rel(path)} panel {panel.get('title')!r}: {exc}", ctx.rel(path)))
    return verdict(problems, f"{count} queries well-formed") if count else failed("dashboards contain no queries", location=ctx.rel(dashboard_files(ctx)[0]))


@check("grafana.metrics_exposed", SECTION, "Panel queries use only metric names the dashboard exposes.", catches="a panel forever empty because it queries a metric nobody exports")
def metrics_exposed(ctx: CheckContext):
    from checks.static.alerts import metric_is_exposed

    problems = []
    for path, data in dashboards(ctx):
        for panel, target in panel_targets(data):
            try:
                names = metric_names(target["expr"])
            except PromQLError:
                continue  # grafana.queries_parse reports it
            problems += [(f"panel {panel.get('title')!r}: {n} is not exposed", ctx.rel(path)) for n in sorted(names) if not metric_is_exposed(ctx, n)]
    return verdict(problems, "panel metrics are exposed")


@check("grafana.panel_datasource", SECTION, "Panels reference a provisioned datasource (by uid or name) or a variable.", catches="panels bound to a datasource uid that does not exist in this Grafana")
def panel_datasource(ctx: CheckContext):
    known = {str(ds.get(k)) for _, _, ds in datasources(ctx) for k in ("uid", "name") if ds.get(k)}
    problems = []
    for path, data in dashboards(ctx):
        for panel, _ in panel_targets(data):
            ref = panel.get("datasource")
            ref = (ref or {}).get("uid") if isinstance(ref, dict) else ref
            if ref is not None and not str(ref).startswith("$") and str(ref) not in known:
                problems.append((f"panel {panel.get('title')!r}: datasource {ref!r} is not provisioned", ctx.rel(path)))
    return verdict(problems, "panel datasources provisioned")
