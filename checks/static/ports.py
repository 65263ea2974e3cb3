"""Section `ports`: published ports are unique, sane, loopback-only and what the spec says."""

from __future__ import annotations

from checks.static._util import as_int, port_mappings, url_host_port
from stagectl.checking import CheckContext, check, verdict

SECTION = "ports"


def _mappings(ctx: CheckContext):
    for name, svc in ctx.compose_services().items():
        for mapping in port_mappings(svc, ctx.env):
            yield name, mapping


@check("ports.in_range", SECTION, "Published ports are integers in 1024–65535.", catches="a privileged or out-of-range port (or an unresolved ${VAR})")
def in_range(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: published port {m['published']!r} ({m['raw']!r})", doc.loc("services", name, "ports"))
        for name, m in _mappings(ctx)
        if not (isinstance(m["published"], int) and 1024 <= m["published"] <= 65535)
    ]
    return verdict(problems, "published ports in range")


@check("ports.unique", SECTION, "No host port is published twice.", catches="two services fighting over one host port (compose fails at start)")
def unique(ctx: CheckContext):
    doc, seen, problems = ctx.compose, {}, []
    for name, m in _mappings(ctx):
        if m["published"] in seen:
            problems.append((f"port {m['published']} published by {seen[m['published']]} and {name}", doc.loc("services", name, "ports")))
        seen.setdefault(m["published"], name)
    return verdict(problems, f"{len(seen)} published ports, all distinct")


@check("ports.match_spec", SECTION, "Each published mapping is spec port → spec container_port.", catches="the stack answering on a port the smoke tests and docs do not use")
def match_spec(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, m in _mappings(ctx):
        spec = ctx.stack.services.get(name)
        if spec and (m["published"], m["target"]) != (spec.port, spec.container_port):
            problems.append((f"{name}: {m['published']}→{m['target']}, spec {spec.port}→{spec.container_port}", doc.loc("services", name, "ports")))
    return verdict(problems, "published ports match the spec")


@check("ports.only_published", SECTION, "Exactly the services with `publish: true` publish a port.", catches="a database or cache exposed on the host (or a UI not reachable)")
def only_published(ctx: CheckContext):
    doc, services, problems = ctx.compose, ctx.compose_services(), []
    for name, spec in ctx.stack.services.items():
        has_ports = bool(services.get(name, {}).get("ports"))
        if name in services and has_ports != spec.publish:
            what = "publishes a port but is not marked publish" if has_ports else "is marked publish but publishes no port"
            problems.append((f"{name} {what}", doc.loc("services", name)))
    return verdict(problems, "only published services bind host ports")


@check("ports.loopback_bound", SECTION, "Every published port is bound to 127.0.0.1.", catches="staging services reachable from the whole network (0.0.0.0)")
def loopback_bound(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: port {m['published']} bound to {m['host_ip'] or '0.0.0.0 (default)'}", doc.loc("services", name, "ports"))
        for name, m in _mappings(ctx)
        if m["host_ip"] != "127.0.0.1"
    ]
    return verdict(problems, "all published ports on 127.0.0.1")


@check("ports.env_ports_valid", SECTION, "Every *_PORT variable (example and effective env) is an integer in 1–65535, and no two are equal.", catches="two services configured onto the same host port, or a broken default in the example")
def env_ports_valid(ctx: CheckContext):
    example, problems = ctx.env_example, []
    for label, values in (("example", example.values), ("env", ctx.env)):
        seen: dict[int, str] = {}
        for name in sorted(k for k in example.values if k.endswith("_PORT")):
            port = as_int(values.get(name))
            if port is None or not 1 <= port <= 65535:
                problems.append((f"{label}: {name}={values.get(name)!r} is not a port", example.loc(name)))
            elif port in seen:
                problems.append((f"{label}: {name} and {seen[port]} are both {port}", example.loc(name)))
            seen.setdefault(port or 0, name)
    return verdict(problems, "port variables valid and distinct")


@check("ports.urls_consistent", SECTION, "S3_ENDPOINT_URL uses S3_PORT and OPENAI_BASE_URL uses LLM_STUB_PORT.", catches="the dashboard calling a port nothing listens on after a port change")
def urls_consistent(ctx: CheckContext):
    example, problems = ctx.env_example, []
    for url_var, port_var in (("S3_ENDPOINT_URL", "S3_PORT"), ("OPENAI_BASE_URL", "LLM_STUB_PORT")):
        host, port = url_host_port(ctx.env.get(url_var, ""))
        is_local = host in ("127.0.0.1", "localhost", "::1")
        if is_local and port != as_int(ctx.env.get(port_var)):
            problems.append((f"{url_var} port {port} ≠ {port_var}={ctx.env.get(port_var)}", example.loc(url_var)))
        if host is None:
            problems.append((f"{url_var} is not a URL", example.loc(url_var)))
    return verdict(problems, "endpoint URLs use the configured ports")
