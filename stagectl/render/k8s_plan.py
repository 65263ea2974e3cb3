"""What each service becomes on Kubernetes: a plain-data plan the templates under
`templates/kubernetes/` turn into manifests.

The plan is derived from the spec (images, ports, healthchecks, resources, volumes, depends_on) and
the example env's *public* values; secrets are only ever referenced by name (a `secretKeyRef` into
the Secret the staging overlay's secretGenerator makes). What the spec cannot say — the uid an
image runs as, the paths it writes to — is kept in the two tables below.
"""

from __future__ import annotations

import math
import re
from typing import Any

from stagectl.config.model import Service, Stack
from stagectl.errors import ConfigError
from stagectl.secrets import is_secret_name

SECRET_NAME = "stack-secrets"  # the overlay's secretGenerator makes it from secrets.env
SETTINGS_NAME = "settings"  # the ConfigMap of every non-secret variable
NAME_LABEL = "app.kubernetes.io/name"
S3_INIT = "s3-init"

# The uid/gid each image's process runs as (runAsNonRoot needs a numeric user to verify): the
# image's own user where it has one, else an unprivileged uid the program does not care about.
RUN_AS = {
    "postgres": 70, "redis": 999, "s3": 1000, "llm": 10001, "dashboard": 10001,
    "postgres-exporter": 65534, "redis-exporter": 59000, "prometheus": 65534, "grafana": 472,
}
# Paths a service writes to besides its spec volumes; they get an emptyDir so the root
# filesystem can stay read-only. A service missing here keeps a writable root filesystem.
WRITABLE = {
    "postgres": ["/var/run/postgresql", "/tmp"],
    "redis": ["/tmp"],
    "s3": ["/tmp"],
    "llm": ["/tmp"],
    "dashboard": ["/tmp"],
    "postgres-exporter": ["/tmp"],
    "redis-exporter": ["/tmp"],
    "prometheus": ["/tmp"],
    "grafana": ["/tmp", "/var/log/grafana"],
}
# In-cluster addresses that replace the host-side ones of the env file (as under compose).
IN_CLUSTER = {
    "DASHBOARD_HOST": "0.0.0.0",
    "DASHBOARD_PORT": "{dashboard}",
    "POSTGRES_HOST": "postgres",
    "POSTGRES_PORT": "{postgres}",
    "REDIS_HOST": "redis",
    "REDIS_PORT": "{redis}",
    "S3_ENDPOINT_URL": "http://s3:{s3}",
    "OPENAI_BASE_URL": "http://llm:{llm}/v1",
}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$", re.IGNORECASE)
_TARGET = re.compile(r"^([a-z0-9-]+):(\d+)$")


def memory(text: str) -> str:
    """Compose memory ('1g', '640m') → Kubernetes quantity ('1Gi', '640Mi'); Kubernetes' 'm' is milli."""
    match = _MEMORY.match(text.strip())
    if not match:
        raise ConfigError(f"resources.memory {text!r} is not a size like 512m or 1g")
    number, unit = match.group(1), match.group(2).lower()
    return number + {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}[unit]


def cpu(cores: float) -> str:
    """Cores → a Kubernetes CPU quantity in millicores."""
    return f"{max(1, round(cores * 1000))}m"


def volume_name(name: str) -> str:
    return name.replace("_", "-")


def image(stack: Stack, name: str, svc: Service) -> str:
    """The image `name` runs in the cluster: the spec's for an upstream image; for one built here
    from `build:`, the very tag stagectl/images/catalog.py builds locally (the tag part replaced by
    `kubernetes.build_image_tag` when set); `kubernetes.image_registry` before either."""
    k8s = stack.kubernetes
    ref = str(svc.image)
    if svc.build:
        from stagectl.images.catalog import images_for_services

        spec = images_for_services([name]).get(name)
        if spec is None:
            raise ConfigError(f"service {name!r} is built from {svc.build!r}, but stagectl/images/catalog.py "
                              "builds no image for it", hint="add the service to its ImageSpec's `services`")
        repository, _, tag = spec.tag.rpartition(":")
        ref = f"{repository}:{k8s.build_image_tag or tag}"
    return f"{k8s.image_registry.rstrip('/')}/{ref}" if k8s.image_registry else ref


def _handler(svc: Service, path: str | None) -> dict[str, Any]:
    if path:
        return {"http": path, "port": svc.container_port}
    test = list(svc.healthcheck.test or svc.healthcheck.command or [])
    if test[:1] == ["CMD-SHELL"]:
        return {"exec": ["sh", "-c", " ".join(test[1:])]}
    if test[:1] == ["CMD"]:
        return {"exec": test[1:]}
    if not test:
        raise ConfigError("a healthcheck needs a path or a test to map to a Kubernetes probe")
    return {"exec": test}


def probes(name: str, svc: Service) -> dict[str, dict[str, Any]]:
    """Compose healthcheck → readiness, liveness and startup probes (start_period → startupProbe)."""
    hc = svc.healthcheck
    timing = {"period": max(1, math.ceil(hc.interval)), "timeout": max(1, math.ceil(hc.timeout)), "failures": hc.retries}
    live = _handler(svc, hc.path)
    ready = _handler(svc, "/health/ready") if name == "dashboard" else live
    start = {**timing, "failures": math.ceil(hc.start_period / timing["period"]) + hc.retries}
    return {"readiness": {**ready, **timing}, "liveness": {**live, **timing}, "startup": {**live, **start}}


def settings(stack: Stack, public_env: dict[str, str]) -> dict[str, str]:
    """The `settings` ConfigMap: every public example variable, with in-cluster addresses."""
    ports = {n: s.container_port for n, s in stack.services.items()}
    out = dict(public_env)
    for key, value in IN_CLUSTER.items():
        if key in out:
            out[key] = value.format(**ports)
    return out


def _env_for(name: str, svc: Service, dashboard_names: list[str], stack: Stack) -> list[dict[str, str]]:
    """A container's environment: {name, config|secret|value} (ConfigMap key, Secret key, literal)."""

    def ref(var: str, as_name: str | None = None) -> dict[str, str]:
        kind = "secret" if is_secret_name(var) else "config"
        return {"name": as_name or var, kind: var}

    pg = stack.services["postgres"].container_port
    if name == "postgres":
        return [ref("POSTGRES_DB"), ref("POSTGRES_USER"), ref("POSTGRES_PASSWORD"), ref("POSTGRES_MAX_CONNECTIONS"),
                ref("DASHBOARD_DB_USER"), ref("DASHBOARD_DB_PASSWORD"),  # the entry point creates the dashboard's role
                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}]
    if name == "redis":
        # redis-cli in the probes reads its password from REDISCLI_AUTH, never from argv.
        return [ref(v) for v in ("REDIS_PASSWORD", "REDIS_APPENDONLY", "REDIS_MAXMEMORY", "REDIS_MAXMEMORY_POLICY")] + [
            ref("REDIS_PASSWORD", as_name="REDISCLI_AUTH")]
    if name in ("s3", S3_INIT):
        port = stack.services["s3"].container_port
        host = "127.0.0.1" if name == "s3" else "s3"
        return [{"name": "MOTO_PORT", "value": str(port)}, {"name": "S3_ENDPOINT_URL", "value": f"http://{host}:{port}"}] + [
            ref(v) for v in ("S3_BUCKET_NAME", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                             "S3_CORS_ORIGINS", "S3_LIFECYCLE_NONCURRENT_DAYS")]
    if name == "llm":
        return [ref("OPENAI_API_KEY"), ref("OPENAI_MODEL")]
    if name == "dashboard":
        # the dashboard logs in as its own role, never as the superuser POSTGRES_USER
        login = {"POSTGRES_USER": "DASHBOARD_DB_USER", "POSTGRES_PASSWORD": "DASHBOARD_DB_PASSWORD"}
        return [ref(login[v], v) if v in login else ref(v) for v in dashboard_names]
    if name == "postgres-exporter":
        return [ref("POSTGRES_DB"), ref("POSTGRES_USER", "DATA_SOURCE_USER"), ref("POSTGRES_PASSWORD", "DATA_SOURCE_PASS"),
                {"name": "DATA_SOURCE_URI", "value": f"postgres:{pg}/$(POSTGRES_DB)?sslmode=disable"}]
    if name == "redis-exporter":
        return [{"name": "REDIS_ADDR", "value": f"redis://redis:{stack.services['redis'].container_port}"}, ref("REDIS_PASSWORD")]
    if name == "grafana":
        return [{"name": "GF_SERVER_HTTP_PORT", "value": str(svc.container_port)}, ref("GRAFANA_ADMIN_USER", "GF_SECURITY_ADMIN_USER"),
                ref("GRAFANA_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"), ref("GRAFANA_ANONYMOUS_ENABLED", "GF_AUTH_ANONYMOUS_ENABLED"),
                {"name": "GF_USERS_ALLOW_SIGN_UP", "value": "false"}]
    if name == "prometheus":
        return [ref("PROMETHEUS_RETENTION")]
    return []


def _args(name: str, svc: Service) -> list[str]:
    """Container args; $(VAR) is expanded by the kubelet from the container's env."""
    if name == "postgres":
        return ["postgres", "-c", "max_connections=$(POSTGRES_MAX_CONNECTIONS)"]
    if name == "redis":
        # The password goes in as config on stdin (`-`), so it is in no process's argv; the script
        # text sh receives holds only the variable's name.
        return ["sh", "-c", ('exec redis-server - --appendonly "$REDIS_APPENDONLY" --maxmemory "$REDIS_MAXMEMORY"'
                             ' --maxmemory-policy "$REDIS_MAXMEMORY_POLICY" <<EOF\nrequirepass "$REDIS_PASSWORD"\nEOF\n')]
    if name == "llm":
        return ["python", "-m", "inventario_dashboard.llm_stub", "--host", "0.0.0.0", "--port", str(svc.container_port)]
    if name == "prometheus":
        return ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                "--storage.tsdb.retention.time=$(PROMETHEUS_RETENTION)", f"--web.listen-address=:{svc.container_port}"]
    return []


def _config_mounts(name: str) -> tuple[list[dict], list[dict]]:
    """(volumes, mounts) of rendered config files: Prometheus, Grafana provisioning."""
    if name == "prometheus":
        # One projected dir: prometheus.yml resolves rule_files and credentials_file against it.
        volume = {"name": "config", "projected": [
            {"configMap": "prometheus-config", "items": []},
            {"secret": SECRET_NAME, "items": [{"key": "DASHBOARD_API_KEY", "path": "secrets/dashboard_api_key"}]},
        ]}
        return [volume], [{"name": "config", "path": "/etc/prometheus", "read_only": True}]
    if name == "grafana":
        volumes = [{"name": "datasources", "configMap": "grafana-datasources"}, {"name": "dashboards", "configMap": "grafana-dashboards"}]
        mounts = [{"name": "datasources", "path": "/etc/grafana/provisioning/datasources", "read_only": True},
                  {"name": "dashboards", "path": "/etc/grafana/provisioning/dashboards", "read_only": True}]
        return volumes, mounts
    return [], []


def workload(name: str, svc: Service, stack: Stack, dashboard_names: list[str]) -> dict[str, Any]:
    """Everything the workload template needs for one service."""
    k8s = stack.kubernetes
    stateful = name in k8s.storage
    volumes, mounts = _config_mounts(name)
    claims = []
    for volume, path in svc.volumes.items():
        vname = volume_name(volume)
        mounts.append({"name": vname, "path": path, "read_only": False})
        if stateful:
            claims.append({"name": vname, "size": k8s.storage[name]})
        else:  # state the stack does not need to keep (the S3 stand-in's, the dashboard's log dir)
            volumes.append({"name": vname, "emptyDir": True})
    for index, path in enumerate(WRITABLE.get(name, [])):
        volumes.append({"name": f"scratch-{index}", "emptyDir": True})
        mounts.append({"name": f"scratch-{index}", "path": path, "read_only": False})
    if name not in RUN_AS:
        raise ConfigError(f"service {name!r}: add the uid its image runs as to stagectl.render.k8s_plan.RUN_AS")
    port_name = name if name in ("postgres", "redis") else "http"
    return {
        "name": name,
        "kind": "StatefulSet" if stateful else "Deployment",
        "description": svc.description,
        "image": image(stack, name, svc),
        "args": [] if name == "redis" else _args(name, svc),
        "command": _args(name, svc) if name == "redis" else [],  # replaces the image's entrypoint
        # the spec's own `environment:` last, as under compose (a later entry wins in Kubernetes too)
        "env": _env_for(name, svc, dashboard_names, stack) + [{"name": k, "value": v} for k, v in svc.environment.items()],
        "port": {"name": port_name, "number": svc.container_port},
        "probes": probes(name, svc),
        "resources": {
            "requests": {"cpu": cpu(svc.resources.cpus / 2), "memory": memory(svc.resources.memory)},
            "limits": {"cpu": cpu(svc.resources.cpus), "memory": memory(svc.resources.memory)},
        },
        "uid": RUN_AS[name],
        "read_only_root": name in WRITABLE,
        "volumes": volumes,
        "mounts": mounts,
        "claims": claims,
        "grace": max(1, math.ceil(svc.stop_grace_period)),
    }


def s3_init_job(stack: Stack) -> dict[str, Any]:
    """The S3 initialisation as a Job: the rendered init-s3.sh run in the S3 stand-in's image."""
    s3 = stack.services["s3"]
    return {
        "name": S3_INIT,
        "image": image(stack, "s3", s3),
        "env": _env_for(S3_INIT, s3, [], stack),
        "uid": RUN_AS["s3"],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
    }


def flows(stack: Stack, scrape_targets: list[str]) -> list[tuple[str, str, int]]:
    """(from, to, port) of every connection the stack makes: depends_on, Prometheus' scrape
    targets, and the S3 init Job. NetworkPolicies allow exactly these."""
    enabled = {n: s for n, s in stack.services.items() if s.enabled}
    out = {(n, dep, enabled[dep].container_port) for n, s in enabled.items() for dep in s.depends_on if dep in enabled}
    for target in scrape_targets:
        match = _TARGET.match(target)
        if match and match.group(1) in enabled and match.group(1) != "prometheus":
            out.add(("prometheus", match.group(1), int(match.group(2))))
    if "s3" in enabled:
        out.add((S3_INIT, "s3", enabled["s3"].container_port))
    return sorted(out)
