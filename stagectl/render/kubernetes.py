"""`stagectl render --target kubernetes`: a kustomize layout (base + overlays/staging) from the
same spec and example env as compose/.

    result = render_kubernetes(project)      # in memory; ConfigError naming template:line
    write_kubernetes(result, out_dir)        # atomic swap; the overlay's secrets.env is kept
    compare_kubernetes(result, out_dir)      # [Diff] ([] = current); secrets.env is not a diff

Templates live in `templates/kubernetes/`: a file there renders 1:1, `_workload.yaml.j2` once per
enabled service. Prometheus' config and alert rules, Grafana's provisioning and the S3 init script
are the compose render's own files, embedded in ConfigMaps (one source for both targets).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from stagectl.config.loader import Project
from stagectl.errors import ConfigError
from stagectl.render import k8s_plan
from stagectl.render.context import build_context
from stagectl.render.engine import (
    HEADER,
    TEMPLATE_SUFFIX,
    RenderedFile,
    RenderResult,
    _located,
    make_environment,
    render,
    template_names,
)
from stagectl.render.output import Diff, compare, write

TEMPLATE_SUBDIR = "kubernetes"
WORKLOAD_TEMPLATE = "_workload.yaml.j2"
OVERLAY = "overlays/staging"
SECRETS_ENV = f"{OVERLAY}/secrets.env"  # never committed: the overlay's .gitignore lists it
KEEP = frozenset({SECRETS_ENV})  # files in the render dir that are the user's, not the render's


def out_dir(project: Project) -> Path:
    return project.root / project.stack.kubernetes.render_dir


def literal(text: str, indent: int) -> str:
    """`text` as a YAML literal block scalar indented by `indent` (round-trips exactly)."""
    body = text if text.endswith("\n") else text + "\n"
    chomp = "+" if body.endswith("\n\n") else ""
    indicator = "2" if body[:1] in (" ", "\n") else ""  # content indented 2 past its key
    pad = " " * indent
    lines = [pad + line if line else "" for line in body.splitlines()]
    return f"|{indicator}{chomp}\n" + "\n".join(lines)


def _context(project: Project) -> dict[str, Any]:
    stack = project.stack
    base = build_context(project, project.root / stack.env_example)
    compose = render(project).files  # the same Prometheus/Grafana/S3 files compose gets
    prometheus = yaml.safe_load(compose["prometheus/prometheus.staging.yml"].content)
    targets = [t for job in prometheus.get("scrape_configs", []) for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
    enabled = {n: s for n, s in stack.services.items() if s.enabled}
    unknown = sorted(set(stack.kubernetes.storage) - set(enabled))
    if unknown:
        raise ConfigError(f"stagectl.yaml: kubernetes.storage names unknown service(s) {', '.join(unknown)}")
    dashboard_names = list(base["dashboard_env_names"])

    def files(prefix: str) -> dict[str, str]:
        return {Path(p).name: f.content for p, f in sorted(compose.items()) if p.startswith(prefix)}

    return {
        **base,
        "k8s": stack.kubernetes,
        "labels_for": lambda name: {k8s_plan.NAME_LABEL: name, "app.kubernetes.io/part-of": stack.project},
        "name_label": k8s_plan.NAME_LABEL,
        "secret_name": k8s_plan.SECRET_NAME,
        "settings_name": k8s_plan.SETTINGS_NAME,
        "settings": k8s_plan.settings(stack, base["env"]),
        "workloads": [k8s_plan.workload(n, s, stack, dashboard_names) for n, s in enabled.items()],
        "s3_init": k8s_plan.s3_init_job(stack) if "s3" in enabled else None,
        "flows": k8s_plan.flows(stack, targets),
        "prometheus_files": {"prometheus.yml": compose["prometheus/prometheus.staging.yml"].content,
                             "alerts.staging.yml": compose["prometheus/alerts.staging.yml"].content},
        "grafana_datasources": files("grafana/provisioning/datasources/"),
        "grafana_dashboards": files("grafana/provisioning/dashboards/"),
        "s3_init_script": compose["s3/init-s3.sh"].content,
        "secrets_env": SECRETS_ENV.rsplit("/", 1)[1],
    }


def render_kubernetes(project: Project, *, template_dir: Path | None = None) -> RenderResult:
    """Render the kustomize layout. Raises ConfigError (exit 2) naming template:line."""
    template_dir = template_dir or project.root / "templates" / TEMPLATE_SUBDIR
    if not template_dir.is_dir():
        raise ConfigError(f"{template_dir}: template directory not found")
    context = _context(project)
    env = make_environment(template_dir, context)
    env.filters["literal"] = literal
    env.filters["yamlq"] = lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()
    jobs: list[tuple[str, str, dict[str, Any]]] = [(name, name.removesuffix(TEMPLATE_SUFFIX), {}) for name in template_names(template_dir)]
    jobs += [(WORKLOAD_TEMPLATE, f"base/{w['name']}.yaml", {"w": w}) for w in context["workloads"]]
    files: dict[str, RenderedFile] = {}
    for name, out_path, extra in jobs:
        header = HEADER.format(template=f"templates/{TEMPLATE_SUBDIR}/{name}")
        try:
            content = env.get_template(name).render(**context, **extra, header=header)
        except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
            raise _located(exc, template_dir, name) from None
        if out_path.endswith((".yaml", ".yml")):
            _parses(out_path, content)
        files[out_path] = RenderedFile(out_path, content)
    return RenderResult(files=files, template_dir=template_dir)


def _parses(path: str, content: str) -> None:
    """A template bug shows up here, at render time, not at `kubectl apply`."""
    try:
        list(yaml.safe_load_all(content))
    except yaml.YAMLError as exc:
        raise ConfigError(f"rendered {path} is not valid YAML: {exc}", hint="fix the template under templates/kubernetes/") from None


def compare_kubernetes(result: RenderResult, directory: Path) -> list[Diff]:
    """Differences between `directory` and `result`; the user's secrets.env is not one."""
    return [d for d in compare(result, directory) if not (d.kind == "extra" and d.path in KEEP)]


def write_kubernetes(result: RenderResult, directory: Path) -> None:
    """Write atomically like compose/, carrying the user's secrets.env (0600) across the swap."""
    kept = {}
    for rel in KEEP:
        path = directory / rel
        if path.is_file():
            kept[rel] = RenderedFile(rel, path.read_text(encoding="utf-8"), 0o600)
    write(dataclasses.replace(result, files={**result.files, **kept}), directory)


def secrets_env(env: Mapping[str, str], names: list[str]) -> str:
    """The secretGenerator's env file: NAME=value for each secret variable (values verbatim)."""
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ConfigError(f"no value for {', '.join(missing)} in the env file", hint="run `stagectl init` or set them in .env.staging")
    bad = [n for n in names if "\n" in env[n]]
    if bad:
        raise ConfigError(f"{', '.join(bad)}: a multi-line value cannot go into a kustomize env file")
    return "".join(f"{n}={env[n]}\n" for n in names)


def write_secrets_env(project: Project) -> Path:
    """Write overlays/staging/secrets.env (0600) from the project's env file's secret variables."""
    import os

    from stagectl.secrets import is_secret_name

    names = sorted(k for k in build_context(project, project.root / project.stack.env_example)["known_vars"] if is_secret_name(k))
    path = out_dir(project) / SECRETS_ENV
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets_env(project.env, names))
    os.chmod(path, 0o600)
    return path


def main(argv: list[str]) -> int:
    """`python -m stagectl.render.kubernetes secrets-env [--env-file F]`: write secrets.env from
    .env.staging (prints only the path and the variable count, never a value)."""
    from stagectl.config.loader import load_project

    if not argv or argv[0] != "secrets-env":
        print("usage: python -m stagectl.render.kubernetes secrets-env [--env-file FILE]", file=sys.stderr)
        return 2
    env_file = Path(argv[2]) if len(argv) >= 3 and argv[1] == "--env-file" else None
    try:
        project = load_project(None, env_file=env_file)
        path = write_secrets_env(project)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line)
    print(f"wrote {path} ({count} secret variables, mode 0600; never commit it)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
