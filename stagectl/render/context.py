"""The data the deployment templates see: the stack spec plus the *non-secret* example env.

Secret values are kept out of the context altogether (a template cannot leak what it never
receives); templates refer to secrets only through `ref(NAME)`, which yields a Compose
`${NAME:?...}` reference that is interpolated at deploy time.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import yaml

from stagectl.config.envfile import parse_env_file
from stagectl.config.loader import Project
from stagectl.secrets import is_secret_name

# Variables only the infrastructure (compose, Prometheus, Grafana) or stagectl itself reads;
# every other example variable is passed to the dashboard container.
NOT_FOR_DASHBOARD = frozenset({
    "COMPOSE_PROJECT_NAME", "POSTGRES_MAX_CONNECTIONS", "REDIS_MAXMEMORY", "REDIS_MAXMEMORY_POLICY",
    "REDIS_APPENDONLY", "S3_PORT", "S3_CORS_ORIGINS", "S3_LIFECYCLE_NONCURRENT_DAYS", "LLM_STUB_PORT",
    "PROMETHEUS_PORT", "PROMETHEUS_SCRAPE_INTERVAL", "PROMETHEUS_RETENTION", "POSTGRES_EXPORTER_PORT",
    "REDIS_EXPORTER_PORT", "ALERT_5XX_RATIO", "ALERT_P95_LATENCY_SECONDS", "GRAFANA_PORT",
    "GRAFANA_ADMIN_USER", "GRAFANA_ADMIN_PASSWORD", "GRAFANA_ANONYMOUS_ENABLED", "PERF_HEALTH_P95_MS",
    "PERF_API_P95_MS", "PERF_DB_QUERY_MS", "PERF_REDIS_OP_MS", "PERF_S3_OP_MS", "PERF_CONCURRENCY",
    "PERF_READ_P99_MS", "PERF_HEALTH_CEILING_SHARE",
    "DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD",  # reach the dashboard as its POSTGRES_USER/PASSWORD
})

_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_SECTION = re.compile(r"^# ---")
SECRET_COMMENT = "# SECRET"


@dataclasses.dataclass(frozen=True)
class EnvLine:
    """One line of the example env file, as the rendered compose `.env.staging` shows it."""

    kind: str  # "comment" | "blank" | "var"
    text: str = ""
    name: str = ""
    value: str = ""
    secret: bool = False
    noted: bool = False  # a "# SECRET" comment right above already says it is set at deploy time


def _env_lines(example: Path) -> list[EnvLine]:
    """Comment and variable lines from the first section header on (the file's own preamble
    talks about copying the example, which would be wrong in the rendered file)."""
    values = {v.name: v.value for v in parse_env_file(example)}
    out: list[EnvLine] = []
    started = False
    for raw in example.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        started = started or bool(_SECTION.match(line))
        if not started:
            continue
        if not line:
            out.append(EnvLine("blank"))
        elif line.startswith(SECRET_COMMENT):
            rest = line.removeprefix(SECRET_COMMENT).lstrip(" —-:").removeprefix("(").removesuffix(")")
            note = f"{SECRET_COMMENT}: set at deploy time, never committed" + (f"; {rest}" if rest else "")
            out.append(EnvLine("comment", text=note))
        elif line.startswith("#"):
            out.append(EnvLine("comment", text=line))
        else:
            name = line.split("=", 1)[0].removeprefix("export ").strip()
            secret = is_secret_name(name)
            noted = bool(out) and out[-1].text.startswith(SECRET_COMMENT)
            out.append(EnvLine("var", name=name, value="" if secret else values[name], secret=secret, noted=noted))
    return out


def _port_vars(spec_path: Path) -> dict[str, str]:
    """Service → the env variable its `port:` is read from (so compose re-reads it at deploy time)."""
    raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for name, svc in (raw.get("services") or {}).items():
        match = _VAR_REF.search(str(svc.get("port", "")))
        if match:
            out[name] = match.group(1)
    return out


def _s3init_source() -> str:
    from stagectl import s3init

    return Path(s3init.__file__).read_text(encoding="utf-8")


def build_context(project: Project, example: Path) -> dict[str, Any]:
    """Everything the templates may use. `example` is the env file values are rendered from."""
    example_vars = {v.name: v.value for v in parse_env_file(example)}
    public_env = {k: v for k, v in example_vars.items() if not is_secret_name(k)}
    stack = project.stack
    render_dir = project.root / stack.render_dir
    builds = {
        name: os.path.relpath(project.root / svc.build, render_dir)
        for name, svc in stack.services.items()
        if svc.build
    }
    return {
        "stack": stack,
        "project": stack.project,
        "network": stack.network,
        "services": stack.services,
        "env": public_env,
        "env_lines": _env_lines(example),
        "secret_names": sorted(k for k in example_vars if is_secret_name(k)),
        "known_vars": sorted(example_vars),
        "port_vars": _port_vars(project.spec_path),
        "builds": builds,
        "state_dir_from_render": os.path.relpath(project.root / stack.state_dir, render_dir),
        "dashboard_env_names": [k for k in example_vars if k not in NOT_FOR_DASHBOARD],
        "s3init_source": _s3init_source(),
    }
