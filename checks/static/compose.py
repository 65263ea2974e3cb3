"""Section `compose`: the rendered compose file follows the Compose spec and matches stagectl.yaml."""

from __future__ import annotations

from checks.static._util import depends_on
from stagectl.checking import CheckContext, check, passed, verdict

SECTION = "compose"

# Key sets of the Compose specification, copied from the compose-spec 0.2.1 bindings
# (compose_spec.models.ComposeSpecification / Service). Importing those bindings costs ~220 ms,
# most of validate's 300 ms budget, so the key sets are kept here; `x-*` extensions are allowed.
TOP_LEVEL_KEYS = {"configs", "include", "models", "name", "networks", "secrets", "services", "version", "volumes"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
    "command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
    "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on",
    "deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
    "entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus",
    "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "label_file", "labels",
    "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
    "models", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "post_start", "pre_stop", "privileged", "profiles", "provider", "pull_policy",
    "pull_refresh_after", "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size",
    "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits",
    "use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}
RESTART_POLICIES = {"no", "always", "on-failure", "unless-stopped"}


def _enabled(ctx: CheckContext) -> dict:
    return {name: svc for name, svc in ctx.stack.services.items() if svc.enabled}


@check("compose.top_level_keys", SECTION, "Only Compose-spec top-level keys (or x-* extensions).", catches="a misspelt top-level key (e.g. `volume:`) that compose rejects")
def top_level_keys(ctx: CheckContext):
    doc = ctx.compose
    bad = [k for k in doc.data if k not in TOP_LEVEL_KEYS and not str(k).startswith("x-")]
    return verdict([(f"unknown top-level key {k!r}", doc.loc(k)) for k in bad], "top-level keys follow the Compose spec")


@check("compose.no_obsolete_version", SECTION, "No obsolete `version:` key.", catches="a legacy v2/v3 file (compose warns and ignores it)")
def no_obsolete_version(ctx: CheckContext):
    doc = ctx.compose
    if "version" in doc.data:
        return verdict([("`version` is obsolete in the Compose spec", doc.loc("version"))], "", hint="delete the version: line")
    return passed("no version key")


@check("compose.project_name", SECTION, "`name:` equals the spec's project name.", catches="two stacks colliding under one compose project")
def project_name(ctx: CheckContext):
    doc = ctx.compose
    found = doc.data.get("name")
    problems = [] if found == ctx.stack.project else [(f"name is {found!r}, spec project is {ctx.stack.project!r}", doc.loc("name"))]
    return verdict(problems, f"project name {found}")


@check("compose.services_match_spec", SECTION, "The compose services are exactly the enabled services of stagectl.yaml.", catches="a service dropped from or added to the render")
def services_match_spec(ctx: CheckContext):
    doc, have, want = ctx.compose, set(ctx.compose_services()), set(_enabled(ctx))
    problems = [(f"service {n!r} missing", doc.loc("services")) for n in sorted(want - have)]
    problems += [(f"service {n!r} is not in stagectl.yaml", doc.loc("services", n)) for n in sorted(have - want)]
    return verdict(problems, f"{len(have)} services match the spec")


@check("compose.service_keys", SECTION, "Every service uses only Compose-spec keys.", catches="a misspelt service key (e.g. `healtcheck`) silently dropping config")
def service_keys(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: unknown key {key!r}", doc.loc("services", name, key))
        for name, svc in ctx.compose_services().items()
        for key in svc
        if key not in SERVICE_KEYS and not str(key).startswith("x-")
    ]
    return verdict(problems, "service keys follow the Compose spec")


@check("compose.image_or_build", SECTION, "Every service has an image or a build context.", catches="a service compose cannot create")
def image_or_build(ctx: CheckContext):
    doc = ctx.compose
    problems = [(f"{n}: neither image nor build", doc.loc("services", n)) for n, s in ctx.compose_services().items() if not s.get("image") and not s.get("build")]
    return verdict(problems, "every service has an image or build")


@check("compose.images_pinned", SECTION, "Images carry an explicit tag that is not `latest`.", catches="unreproducible staging from a moving `latest` tag")
def images_pinned(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, svc in ctx.compose_services().items():
        image = str(svc.get("image") or "")
        if not image:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if "@sha256:" not in image and tag in ("", "latest"):
            problems.append((f"{name}: image {image!r} is not pinned", doc.loc("services", name, "image")))
    return verdict(problems, "all images pinned")


@check("compose.image_matches_spec", SECTION, "Each service's image equals the spec's image.", catches="template and spec drifting apart (tested one version, deployed another)")
def image_matches_spec(ctx: CheckContext):
    doc, services, problems = ctx.compose, ctx.compose_services(), []
    for name, spec in _enabled(ctx).items():
        svc = services.get(name)
        if svc is not None and spec.image and svc.get("image") != spec.image:
            problems.append((f"{name}: image {svc.get('image')!r}, spec says {spec.image!r}", doc.loc("services", name, "image")))
    return verdict(problems, "images match the spec")


@check("compose.build_context", SECTION, "Build contexts exist and hold a Dockerfile.", catches="`docker compose build` failing on a missing context or Dockerfile")
def build_context(ctx: CheckContext):
    doc, problems, seen = ctx.compose, [], 0
    for name, svc in ctx.compose_services().items():
        build = svc.get("build")
        if not build:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        folder = (doc.path.parent / str(context)).resolve()
        seen += 1
        if not (folder / dockerfile).is_file():
            problems.append((f"{name}: {ctx.rel(folder / dockerfile)} does not exist", doc.loc("services", name, "build")))
    return verdict(problems, f"{seen} build context(s) have a Dockerfile")


@check("compose.depends_on_match_spec", SECTION, "depends_on equals the spec's dependencies.", catches="start order that differs from the one stagectl waits for")
def depends_on_match_spec(ctx: CheckContext):
    doc, services, problems = ctx.compose, ctx.compose_services(), []
    for name, spec in _enabled(ctx).items():
        if name in services and set(depends_on(services[name])) != set(spec.depends_on):
            problems.append((f"{name}: depends_on {sorted(depends_on(services[name]))}, spec says {sorted(spec.depends_on)}", doc.loc("services", name, "depends_on")))
    return verdict(problems, "dependencies match the spec")


@check("compose.depends_on_healthy", SECTION, "Dependencies wait for `service_healthy`.", catches="a service starting before its database accepts connections")
def depends_on_healthy(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, svc in ctx.compose_services().items():
        for dep, options in depends_on(svc).items():
            if options.get("condition") != "service_healthy":
                problems.append((f"{name} → {dep}: condition {options.get('condition')!r}", doc.loc("services", name, "depends_on")))
    return verdict(problems, "every dependency waits for service_healthy")


@check("compose.restart_policy", SECTION, "Every service has a valid restart policy.", catches="a crashed service staying down in staging")
def restart_policy(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{n}: restart {s.get('restart')!r}", doc.loc("services", n))
        for n, s in ctx.compose_services().items()
        if s.get("restart") not in RESTART_POLICIES - {"no"}
    ]
    return verdict(problems, "restart policies set")


@check("compose.memory_limits", SECTION, "Every service has a memory limit.", catches="one runaway service starving the rest of the host")
def memory_limits(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, svc in ctx.compose_services().items():
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if not limits.get("memory") and not svc.get("mem_limit"):
            problems.append((f"{name}: no memory limit", doc.loc("services", name)))
    return verdict(problems, "every service has a memory limit")


@check("compose.stop_signal", SECTION, "stop_signal matches the spec where it is not SIGTERM.", catches="PostgreSQL killed with SIGTERM-then-SIGKILL instead of a fast shutdown")
def stop_signal(ctx: CheckContext):
    doc, services, problems = ctx.compose, ctx.compose_services(), []
    for name, spec in _enabled(ctx).items():
        found = services.get(name, {}).get("stop_signal", "SIGTERM")
        if name in services and found != spec.stop_signal:
            problems.append((f"{name}: stop_signal {found}, spec says {spec.stop_signal}", doc.loc("services", name)))
    return verdict(problems, "stop signals match the spec")
