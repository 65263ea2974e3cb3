"""Section `kubernetes`: the kustomize layout of `stagectl render --target kubernetes`, checked
offline — strict schemas of the stated Kubernetes version (kubernetes-validate's bundled ones),
selectors, ports, probes, limits, security context, secrets and NetworkPolicies."""

from __future__ import annotations

from checks.static._k8s import (
    KUSTOMIZATION,
    LONG_RUNNING,
    SECRETS_ENV,
    Manifest,
    committed_files,
    config_map_values,
    containers,
    k8s_dir,
    kustomize_build,
    manifests,
    pod_labels,
    pod_template,
    resources,
    schema_errors,
    secret_names,
    selects,
)
from stagectl.checking import CheckContext, check, failed, parse_env, passed, verdict
from stagectl.secrets import is_secret_name, secret_values

SECTION = "kubernetes"
SECRET_NAME = "stack-secrets"
SETTINGS_NAME = "settings"


@check("kubernetes.schema", SECTION, "Every manifest passes strict schema validation (unknown fields rejected) for the Kubernetes version in stagectl.yaml (`kubernetes.version`).", catches="a misspelt or misplaced field that `kubectl apply` rejects or silently drops")
def schema(ctx: CheckContext):
    version = ctx.stack.kubernetes.version
    items = resources(ctx)
    problems = [(f"{m.label}: {e}", m.loc) for m in items for e in schema_errors(m, version)]
    return verdict(problems, f"{len(items)} objects valid against the strict Kubernetes {version} schemas")


@check("kubernetes.kustomization", SECTION, "base/ and overlays/staging/ kustomizations list existing files, every base file is listed, and the overlay generates the Secret from a gitignored env file.", catches="a manifest kustomize never applies, or a secrets file that could be committed")
def kustomization(ctx: CheckContext):
    folder, problems = k8s_dir(ctx), []
    kustomizations = [m for m in manifests(ctx) if m.kind == KUSTOMIZATION]
    listed: set = set()
    for m in kustomizations:
        here = (ctx.root / m.rel).parent
        for entry in m.data.get("resources") or []:
            target = (here / str(entry)).resolve()
            listed.add(target)
            if not target.exists():
                problems.append((f"{m.rel}: resource {entry!r} does not exist", m.loc))
    base = folder / "base"
    for path in sorted(base.glob("*.yaml")):
        if path.name != "kustomization.yaml" and path.resolve() not in listed:
            problems.append((f"{ctx.rel(path)} is not listed in base/kustomization.yaml", ctx.rel(path)))
    overlay = next((m for m in kustomizations if m.rel.endswith("overlays/staging/kustomization.yaml")), None)
    env_name = SECRETS_ENV.rsplit("/", 1)[1]
    if overlay is None:
        problems.append(("no overlays/staging/kustomization.yaml", ctx.rel(folder)))
    else:
        generators = overlay.data.get("secretGenerator") or []
        if not any(g.get("name") == SECRET_NAME and env_name in (g.get("envs") or []) for g in generators):
            problems.append((f"the staging overlay has no secretGenerator {SECRET_NAME!r} reading {env_name}", overlay.loc))
        ignore = folder / "overlays/staging/.gitignore"
        if not ignore.is_file() or env_name not in ignore.read_text(encoding="utf-8").split():
            problems.append((f"{env_name} is not listed in overlays/staging/.gitignore", ctx.rel(ignore)))
    return verdict(problems, f"{len(kustomizations)} kustomizations consistent; the Secret comes from a gitignored {env_name}")


@check("kubernetes.services_match_spec", SECTION, "Every enabled service of stagectl.yaml has a workload and a Service of its name.", catches="a service dropped from the Kubernetes render")
def services_match_spec(ctx: CheckContext):
    items = resources(ctx)
    workloads = {m.name for m in items if m.kind in LONG_RUNNING}
    services = {m.name for m in items if m.kind == "Service"}
    problems = []
    for name, svc in ctx.stack.services.items():
        if svc.enabled and name not in workloads:
            problems.append((f"no Deployment/StatefulSet {name!r}", None))
        if svc.enabled and name not in services:
            problems.append((f"no Service {name!r}", None))
    return verdict(problems, f"{len(workloads)} workloads and Services match the spec")


@check("kubernetes.selectors", SECTION, "Each workload's selector matches its pod template labels, and each Service selects some pod.", catches="a Deployment the API server rejects, or a Service with no endpoints")
def selectors(ctx: CheckContext):
    items, problems = resources(ctx), []
    pods = [(m, pod_labels(m)) for m in items if pod_template(m) is not None]
    for m, labels in pods:
        selector = (m.data.get("spec") or {}).get("selector")
        if m.kind != "Job" and not selects(selector, labels):
            problems.append((f"{m.label}: selector {selector} does not match pod labels {labels}", m.loc))
    for m in items:
        if m.kind == "Service":
            wanted = (m.data.get("spec") or {}).get("selector") or {}
            if not any(all(labels.get(k) == v for k, v in wanted.items()) for _, labels in pods) or not wanted:
                problems.append((f"{m.label}: selector {wanted} matches no pod template", m.loc))
    return verdict(problems, f"{len(pods)} pod templates selected by their workloads and Services")


@check("kubernetes.service_ports", SECTION, "Every Service targetPort (number or name) is a containerPort of the pods it selects.", catches="a Service forwarding to a port nothing listens on")
def service_ports(ctx: CheckContext):
    items, problems, count = resources(ctx), [], 0
    pods = [(m, pod_labels(m)) for m in items if pod_template(m) is not None]
    for m in (i for i in items if i.kind == "Service"):
        wanted = (m.data.get("spec") or {}).get("selector") or {}
        ports = [p for pod, labels in pods if wanted and all(labels.get(k) == v for k, v in wanted.items()) for c in containers(pod) for p in c.get("ports") or []]
        numbers = {p.get("containerPort") for p in ports}
        names = {p.get("name") for p in ports}
        for port in (m.data.get("spec") or {}).get("ports") or []:
            count += 1
            target = port.get("targetPort", port.get("port"))
            if target not in (names if isinstance(target, str) else numbers):
                problems.append((f"{m.label}: targetPort {target!r} is not a container port of its pods ({sorted(map(str, numbers | names))})", m.loc))
    return verdict(problems, f"{count} Service ports reach container ports")


@check("kubernetes.probes_and_limits", SECTION, "Every container of a long-running workload has readiness and liveness probes; every container has CPU and memory requests and limits.", catches="a pod the cluster routes to before it is ready or never restarts when hung, or one that can starve its node")
def probes_and_limits(ctx: CheckContext):
    problems, count = [], 0
    for m in resources(ctx):
        for c in containers(m) if pod_template(m) is not None else []:
            count += 1
            if m.kind in LONG_RUNNING:
                missing = [p for p in ("readinessProbe", "livenessProbe") if not c.get(p)]
                if missing:
                    problems.append((f"{m.label} container {c.get('name')!r}: no {', '.join(missing)}", m.loc))
            res = c.get("resources") or {}
            gaps = [f"{kind}.{r}" for kind in ("requests", "limits") for r in ("cpu", "memory") if not (res.get(kind) or {}).get(r)]
            if gaps:
                problems.append((f"{m.label} container {c.get('name')!r}: no {', '.join(gaps)}", m.loc))
    return verdict(problems, f"{count} containers have probes and limits")


@check("kubernetes.security_context", SECTION, "Every pod runs as non-root with seccomp RuntimeDefault; every container disallows privilege escalation, is not privileged and drops ALL capabilities.", catches="a container the `restricted` Pod Security profile of the namespace refuses, or one that can gain root")
def security_context(ctx: CheckContext):
    problems, count = [], 0
    for m in resources(ctx):
        template = pod_template(m)
        if template is None:
            continue
        pod = (template.get("spec") or {}).get("securityContext") or {}
        if pod.get("runAsNonRoot") is not True or (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append((f"{m.label}: pod securityContext needs runAsNonRoot: true and seccompProfile RuntimeDefault", m.loc))
        for c in containers(m):
            count += 1
            sc = c.get("securityContext") or {}
            drops = (sc.get("capabilities") or {}).get("drop") or []
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged") or "ALL" not in drops or (sc.get("capabilities") or {}).get("add"):
                problems.append((f"{m.label} container {c.get('name')!r}: needs allowPrivilegeEscalation: false, not privileged, capabilities drop [ALL] and no add", m.loc))
    return verdict(problems, f"{count} containers locked down")


@check("kubernetes.images_pinned", SECTION, "Every image carries an explicit tag that is not `latest` (or a digest).", catches="pods on two nodes running different code from a moving tag")
def images_pinned(ctx: CheckContext):
    problems, count = [], 0
    for m in resources(ctx):
        for c in containers(m) if pod_template(m) is not None else []:
            count += 1
            image = str(c.get("image") or "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if "@sha256:" not in image and tag in ("", "latest"):
                problems.append((f"{m.label}: image {image!r} is not pinned", m.loc))
    return verdict(problems, f"{count} images pinned")


@check("kubernetes.refs_resolve", SECTION, "Every secretKeyRef/configMapKeyRef names the generated Secret (a SECRET variable) or a key the settings ConfigMap has; every configMap volume names a rendered ConfigMap.", catches="a pod stuck in CreateContainerConfigError on a missing key")
def refs_resolve(ctx: CheckContext):
    items, problems, count = resources(ctx), [], 0
    config_maps = {m.name: set(m.data.get("data") or {}) for m in items if m.kind == "ConfigMap"}
    secret_keys = {e.name for e in ctx.env_example.entries if is_secret_name(e.name)}
    for m in items:
        template = pod_template(m)
        if template is None:
            continue
        for c in containers(m):
            for env in c.get("env") or []:
                source = env.get("valueFrom") or {}
                if "secretKeyRef" in source:
                    count += 1
                    ref = source["secretKeyRef"]
                    if ref.get("name") != SECRET_NAME or ref.get("key") not in secret_keys:
                        problems.append((f"{m.label}: secretKeyRef {ref.get('name')}/{ref.get('key')} is not a SECRET variable of {SECRET_NAME}", m.loc))
                if "configMapKeyRef" in source:
                    count += 1
                    ref = source["configMapKeyRef"]
                    if ref.get("key") not in config_maps.get(ref.get("name"), set()):
                        problems.append((f"{m.label}: configMapKeyRef {ref.get('name')}/{ref.get('key')} does not exist", m.loc))
        for volume in (template.get("spec") or {}).get("volumes") or []:
            sources = [volume.get("configMap")] + [s.get("configMap") for s in (volume.get("projected") or {}).get("sources") or []]
            for source in filter(None, sources):
                count += 1
                if source.get("name") not in config_maps:
                    problems.append((f"{m.label}: volume {volume.get('name')!r} uses ConfigMap {source.get('name')!r}, which is not rendered", m.loc))
    return verdict(problems, f"{count} references resolve")


def _secret_values(ctx: CheckContext) -> tuple[list[str], list[str], str]:
    """(every secret value in use, the real ones among them, where they came from): the env file
    in use and the overlay's secrets.env when written. The example's placeholders are public by
    design, so only values that differ from them are real."""
    placeholders = set(secret_values(ctx.env_example.values))
    values = set(secret_values(ctx.env))
    source = ctx.rel(ctx.user_env_path) if ctx.user_env_path.is_file() else ctx.rel(ctx.env_example_path)
    secrets_file = k8s_dir(ctx) / SECRETS_ENV
    if secrets_file.is_file():
        env = parse_env(secrets_file, ctx.rel(secrets_file))
        values |= set(secret_values(env.values))
        source += f" and {env.rel}"
    ordered = sorted(values, key=len, reverse=True)
    return ordered, [v for v in ordered if v not in placeholders], source


@check("kubernetes.no_secret_values", SECTION, "No ConfigMap has a SECRET variable's key or value; no committed file (env files excepted) holds a real secret value (from .env.staging or the overlay's secrets.env).", catches="a real password pasted into settings, a manifest or a doc that gets committed")
def no_secret_values(ctx: CheckContext):
    values, real, source = _secret_values(ctx)
    results = []
    for m in resources(ctx):
        if m.kind == "ConfigMap":
            for key, text in config_map_values(m):
                if is_secret_name(key) or any(v in text for v in values):
                    results.append(failed(f"ConfigMap {m.name!r} key {key!r} holds a SECRET variable", location=m.loc, item=f"{m.name}.{key}", hint="secrets belong in the generated Secret (secretKeyRef), never a ConfigMap"))
    skip_names = {ctx.user_env_path.name, ctx.env_example_path.name, SECRETS_ENV.rsplit("/", 1)[1]}
    scanned = 0
    for path in committed_files(ctx) if real else []:
        if path.name in skip_names or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        scanned += 1
        text = path.read_bytes().decode("utf-8", "replace")
        if any(v in text for v in real):
            results.append(failed(f"{ctx.rel(path)} holds the value of a SECRET variable", location=ctx.rel(path), item=ctx.rel(path), hint="remove it from the file (and rotate the secret if it was ever pushed)"))
    if results:
        return results
    files = f"none of {scanned} committed files holds one of the {len(real)} real secret values" if real else "no real secret values to look for in committed files (no .env.staging or secrets.env yet)"
    return [passed(f"no secret in a ConfigMap ({len(values)} values from {source}); {files}")]


@check("kubernetes.network_policy_coverage", SECTION, "A default-deny NetworkPolicy selects every pod, and every pod template is selected by a policy of its own (non-empty podSelector, Ingress and Egress) stating what it may reach.", catches="a pod left open to (or able to reach) anything in the cluster")
def network_policy_coverage(ctx: CheckContext):
    items = resources(ctx)
    policies = [(m, m.data.get("spec") or {}) for m in items if m.kind == "NetworkPolicy"]
    problems = []
    deny = [m for m, spec in policies if spec.get("podSelector") == {} and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
            and not spec.get("ingress") and not spec.get("egress")]
    if not deny:
        problems.append(("no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)", None))
    pods = [m for m in items if pod_template(m) is not None]
    for m in pods:
        labels = pod_labels(m)
        own = [p for p, spec in policies if spec.get("podSelector") and selects(spec["podSelector"], labels)
               and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])]
        if not own:
            problems.append((f"{m.label}: no NetworkPolicy of its own (Ingress and Egress) selects its pods {labels}", m.loc))
    return verdict(problems, f"{len(pods)} pod templates covered by {len(policies)} NetworkPolicies (default deny included)")


def _secret_names_used(obj: dict) -> set[str]:
    """Names of Secrets an object's pod template refers to (env, envFrom, volumes, projections)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("secretKeyRef"), dict):
                found.add(node["secretKeyRef"].get("name"))
            if isinstance(node.get("secretRef"), dict):
                found.add(node["secretRef"].get("name"))
            if isinstance(node.get("secret"), dict):
                found.add(node["secret"].get("secretName") or node["secret"].get("name"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(obj.get("spec"))
    return found


@check("kubernetes.kustomize_build", SECTION, "`kubectl kustomize overlays/staging` builds (secrets.env replaced by placeholders), every object lands in the namespace, every Secret reference points at the generated, hash-named Secret, and the generated Secret passes the strict schema.", catches="a layout `kubectl apply -k` refuses (duplicate or missing resource, bad generator), or a pod referring to a Secret name kustomize did not rewrite")
def kustomize_build_check(ctx: CheckContext):
    build = kustomize_build(ctx, secret_names(ctx))
    if build.returncode != 0:
        tail = " ".join(build.stderr.strip().splitlines()[-3:])[:400]
        return failed(f"{' '.join(build.argv)} exited {build.returncode}: {tail}", location=ctx.rel(k8s_dir(ctx)))
    namespace, problems = ctx.stack.kubernetes.namespace, []
    secrets = [o["metadata"]["name"] for o in build.objects if o.get("kind") == "Secret"]
    if len(secrets) != 1 or not secrets[0].startswith(SECRET_NAME + "-"):
        problems.append(f"expected one generated Secret {SECRET_NAME}-<hash>, built {secrets}")
    for obj in build.objects:
        label = f"{obj.get('kind')}/{obj['metadata'].get('name')}"
        if obj.get("kind") != "Namespace" and obj["metadata"].get("namespace") != namespace:
            problems.append(f"{label} is not in namespace {namespace!r}")
        stray = _secret_names_used(obj) - set(secrets)
        if stray:
            problems.append(f"{label} refers to Secret(s) {sorted(stray)} the build does not contain")
        if obj.get("kind") == "Secret":  # the one object only the build has (the rest: kubernetes.schema)
            problems += [f"{label}: {error}" for error in schema_errors(Manifest("built", 0, obj), ctx.stack.kubernetes.version)[:3]]
    if problems:
        return failed("; ".join(problems[:10]), location=ctx.rel(k8s_dir(ctx)))
    return passed(f"{' '.join(build.argv)}: {len(build.objects)} objects in {namespace}, Secret {secrets[0]}, generated Secret schema-valid")
