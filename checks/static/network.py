"""Section `network`: the stack lives on its own declared network, isolated from the host."""

from __future__ import annotations

from checks.static._util import service_networks
from stagectl.checking import CheckContext, check, verdict

SECTION = "network"


@check("network.declared", SECTION, "The spec's network is declared at the top level.", catches="services landing on compose's default network instead of the isolated one")
def declared(ctx: CheckContext):
    doc = ctx.compose
    networks = doc.data.get("networks") or {}
    problems = [] if ctx.stack.network in networks else [(f"network {ctx.stack.network!r} not declared", doc.loc("networks"))]
    return verdict(problems, f"network {ctx.stack.network} declared")


@check("network.all_attached", SECTION, "Every service is attached to the spec's network.", catches="a service that cannot resolve or reach its dependencies")
def all_attached(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name} is not on {ctx.stack.network}", doc.loc("services", name))
        for name, svc in ctx.compose_services().items()
        if ctx.stack.network not in service_networks(svc)
    ]
    return verdict(problems, f"all services on {ctx.stack.network}")


@check("network.no_host_mode", SECTION, "No service uses network_mode host (or another container's namespace).", catches="isolation bypassed: service ports opened on every host interface")
def no_host_mode(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: network_mode {svc['network_mode']!r}", doc.loc("services", name, "network_mode"))
        for name, svc in ctx.compose_services().items()
        if svc.get("network_mode")
    ]
    return verdict(problems, "no host networking")


@check("network.only_declared", SECTION, "Services reference only declared networks.", catches="compose failing at start on an undeclared network")
def only_declared(ctx: CheckContext):
    doc = ctx.compose
    declared_networks = set(doc.data.get("networks") or {})
    problems = [
        (f"{name}: network {net!r} is not declared", doc.loc("services", name, "networks"))
        for name, svc in ctx.compose_services().items()
        for net in service_networks(svc)
        if net not in declared_networks
    ]
    return verdict(problems, "all referenced networks declared")


@check("network.not_external", SECTION, "The stack network is created by compose (not external, bridge driver).", catches="staging joined to a pre-existing shared network")
def not_external(ctx: CheckContext):
    doc = ctx.compose
    config = (doc.data.get("networks") or {}).get(ctx.stack.network) or {}
    problems = []
    if config.get("external"):
        problems.append((f"{ctx.stack.network} is external", doc.loc("networks", ctx.stack.network)))
    if config.get("driver", "bridge") != "bridge":
        problems.append((f"{ctx.stack.network} uses driver {config.get('driver')!r}", doc.loc("networks", ctx.stack.network)))
    return verdict(problems, f"{ctx.stack.network} is a private bridge network")
