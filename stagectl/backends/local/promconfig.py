"""A local variant of the rendered Prometheus config: the same jobs and alert rules, but with
targets on 127.0.0.1 host ports and the dashboard API key in a 0600 credentials file."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from stagectl.backends.local import datahome
from stagectl.backends.local.privileges import private_file
from stagectl.backends.local.runners import RunnerContext
from stagectl.runners import RUNNERS


def _target_map(ctx: RunnerContext) -> dict[str, str]:
    """'dashboard:8080' (compose name : container port) → '127.0.0.1:<host port>'."""
    out = {}
    for name, svc in ctx.stack.services.items():
        for port in {svc.container_port, svc.port}:
            out[f"{name}:{port}"] = f"127.0.0.1:{svc.port}"
            out[f"localhost:{port}"] = f"127.0.0.1:{svc.port}"
    return out


def _adapt(config: dict, ctx: RunnerContext, credentials: Path, source_dir: Path, out_dir: Path,
           owner: str | None) -> dict:
    targets = _target_map(ctx)
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            static["targets"] = [targets.get(t, t) for t in static.get("targets") or []]
        auth = job.get("authorization")
        if isinstance(auth, dict) and ("credentials" in auth or "credentials_file" in auth):
            auth.pop("credentials", None)
            auth["credentials_file"] = str(credentials)
        if "bearer_token" in job or "bearer_token_file" in job:
            job.pop("bearer_token", None)
            job["bearer_token_file"] = str(credentials)
    rules = []
    for rule in config.get("rule_files") or []:
        local = source_dir / Path(rule).name  # container paths → the rendered files next to the config
        if local.is_file():
            # a copy beside the config: the checkout may be out of the service user's reach
            copy = private_file(out_dir / local.name, local.read_text(encoding="utf-8"), owner=owner)
            rules.append(str(copy))
    config["rule_files"] = rules
    config.pop("alerting", None)  # no Alertmanager runs locally
    return config


def _builtin(ctx: RunnerContext, credentials: Path) -> dict:
    """Used only when the project has no rendered compose/prometheus/prometheus.staging.yml."""
    interval = ctx.env.get("PROMETHEUS_SCRAPE_INTERVAL", "15s")
    jobs: list[dict[str, object]] = [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{ctx.port('prometheus')}"]}]}]
    for name, svc in ctx.stack.services.items():
        metrics_path = RUNNERS[svc.runner].metrics_path if svc.runner in RUNNERS else None
        if metrics_path:
            job: dict[str, object] = {"job_name": name, "metrics_path": metrics_path,
                   "static_configs": [{"targets": [f"127.0.0.1:{svc.port}"]}]}
            if svc.runner == "dashboard":
                job["authorization"] = {"type": "Bearer", "credentials_file": str(credentials)}
            jobs.append(job)
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": jobs}


def config_dir(state_dir: Path) -> Path:
    """Where the local Prometheus reads its config: the service home (see datahome)."""
    return datahome.service_home(state_dir) / "prometheus"


def config_path(state_dir: Path) -> Path:
    """The config file the local Prometheus reads (written by `write_local_config`)."""
    return config_dir(state_dir) / "prometheus.yml"


def write_local_config(ctx: RunnerContext, owner: str | None = None) -> Path:
    """Write <service home>/prometheus/prometheus.yml (its credentials file, copies of its rule
    files: all 0600, owned by `owner`); return its path."""
    out_dir = config_dir(ctx.state_dir)
    credentials = private_file(out_dir / "dashboard_api_key", ctx.env.get("DASHBOARD_API_KEY", ""), owner=owner)
    rendered = ctx.root / ctx.stack.render_dir / "prometheus"
    source = next((p for p in (rendered / "prometheus.staging.yml", rendered / "prometheus.yml") if p.is_file()), None)
    if source is not None:
        config = _adapt(yaml.safe_load(source.read_text(encoding="utf-8")) or {}, ctx, credentials, source.parent,
                        out_dir, owner)
    else:
        config = _builtin(ctx, credentials)
    path = config_path(ctx.state_dir)
    tmp = private_file(path.with_suffix(".tmp"), yaml.safe_dump(config, sort_keys=False), owner=owner)
    os.replace(tmp, path)
    return path
