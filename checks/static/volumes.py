"""Section `volumes`: data lives in declared named volumes; config bind mounts exist and are read-only."""

from __future__ import annotations

from checks.static._util import resolve, volume_mounts
from stagectl.checking import CheckContext, check, verdict

SECTION = "volumes"


def _mounts(ctx: CheckContext):
    for name, svc in ctx.compose_services().items():
        for mount in volume_mounts(svc):
            yield name, mount


@check("volumes.declared", SECTION, "Every named volume a service mounts is declared at the top level.", catches="compose refusing to start (undeclared volume)")
def declared(ctx: CheckContext):
    doc, top = ctx.compose, set(ctx.compose.data.get("volumes") or {})
    problems = [
        (f"{name}: volume {m['source']!r} is not declared", doc.loc("services", name, "volumes"))
        for name, m in _mounts(ctx)
        if m["type"] == "volume" and m["source"] and m["source"] not in top
    ]
    return verdict(problems, "named volumes declared")


@check("volumes.used", SECTION, "Every declared volume is mounted by some service.", catches="a data volume left behind by a renamed mount (data silently not persisted)")
def used(ctx: CheckContext):
    doc = ctx.compose
    mounted = {m["source"] for _, m in _mounts(ctx) if m["type"] == "volume"}
    problems = [(f"volume {v!r} is declared but not mounted", doc.loc("volumes", v)) for v in (doc.data.get("volumes") or {}) if v not in mounted]
    return verdict(problems, "every declared volume is mounted")


@check("volumes.match_spec", SECTION, "Every spec volume (name → path) is mounted as a named volume.", catches="a stateful service losing its data on `down` (mount path typo or tmpfs)")
def match_spec(ctx: CheckContext):
    doc, services, problems = ctx.compose, ctx.compose_services(), []
    for name, spec in ctx.stack.services.items():
        if name not in services:
            continue
        have = {(m["source"], m["target"]) for m in volume_mounts(services[name]) if m["type"] == "volume"}
        for volume, target in spec.volumes.items():
            if (volume, target) not in have:
                problems.append((f"{name}: {volume}:{target} not mounted", doc.loc("services", name, "volumes")))
    return verdict(problems, "spec volumes mounted")


@check("volumes.bind_sources_exist", SECTION, "Every relative bind-mount source exists next to the compose file.", catches="a config file mounted from a path the render no longer writes (docker creates an empty dir)")
def bind_sources_exist(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, m in _mounts(ctx):
        if m["type"] == "bind" and str(m["source"]).startswith("."):
            source = doc.path.parent / resolve(m["source"], ctx.env)
            if not source.exists():
                problems.append((f"{name}: bind source {m['source']} does not exist", doc.loc("services", name, "volumes")))
    return verdict(problems, "bind mount sources exist")


@check("volumes.config_read_only", SECTION, "Bind mounts of configuration are read-only.", catches="a container rewriting the committed rendered files")
def config_read_only(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: {m['source']} is mounted read-write", doc.loc("services", name, "volumes"))
        for name, m in _mounts(ctx)
        if m["type"] == "bind" and not m["read_only"]
    ]
    return verdict(problems, "bind mounts are read-only")


@check("volumes.redis_appendonly", SECTION, "Redis runs with --appendonly from REDIS_APPENDONLY (yes).", catches="Redis sessions and snapshots lost on restart")
def redis_appendonly(ctx: CheckContext):
    doc = ctx.compose
    redis = ctx.compose_services().get("redis", {})
    command = resolve(" ".join(map(str, redis.get("command") or [])) if isinstance(redis.get("command"), list) else redis.get("command") or "", ctx.env)
    problems = []
    if "--appendonly yes" not in command:
        problems.append((f"redis command does not enable AOF (REDIS_APPENDONLY={ctx.env.get('REDIS_APPENDONLY')!r})", doc.loc("services", "redis", "command")))
    return verdict(problems, "Redis append-only persistence on")


@check("volumes.prometheus_storage", SECTION, "Prometheus keeps its TSDB on its volume with the configured retention.", catches="metrics lost on restart or kept forever (disk fills)")
def prometheus_storage(ctx: CheckContext):
    doc = ctx.compose
    prom = ctx.compose_services().get("prometheus", {})
    args = [resolve(a, ctx.env) for a in (prom.get("command") or [])]
    targets = {m["target"] for m in volume_mounts(prom) if m["type"] == "volume"}
    path = next((a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.path=")), None)
    retention = next((a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.retention.time=")), None)
    problems = []
    if path not in targets:
        problems.append((f"--storage.tsdb.path {path!r} is not on a named volume {sorted(targets)}", doc.loc("services", "prometheus", "command")))
    if retention != ctx.env.get("PROMETHEUS_RETENTION"):
        problems.append((f"retention {retention!r} ≠ PROMETHEUS_RETENTION {ctx.env.get('PROMETHEUS_RETENTION')!r}", doc.loc("services", "prometheus", "command")))
    return verdict(problems, f"TSDB at {path}, retention {retention}")
