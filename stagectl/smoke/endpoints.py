"""The endpoints the dashboard is configured to use, as the smoke suite compares them with the
`endpoint` of each service in the full /health report (docs/contract.md §6).

The local backend hands the dashboard the same endpoints it gives the suite; a compose stack
hands the container its own (`postgres:5432`, `http://s3:4566`, …), read from the rendered
compose file's dashboard environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

ENV_NAME = "STAGECTL_DASHBOARD_ENDPOINTS"


def expected_endpoints(env: Mapping[str, str]) -> dict[str, str]:
    """service → host:port (database, redis) or URL (s3, openai) from dashboard variables."""
    return {"database": f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}",
            "redis": f"{env['REDIS_HOST']}:{env['REDIS_PORT']}",
            "s3": env["S3_ENDPOINT_URL"].rstrip("/"),
            "openai": env["OPENAI_BASE_URL"].rstrip("/")}


def compose_dashboard_env(project, dashboard: str) -> dict[str, str]:
    """The dashboard container's environment as the rendered compose file sets it (interpolated
    with the project's variables), over the project's own variables (its env_file)."""
    import yaml

    from stagectl.config.interpolate import interpolate

    path = project.render_dir / "docker-compose.staging.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = ((data.get("services") or {}).get(dashboard) or {}).get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw if "=" in item)
    return {**project.env, **{k: interpolate(str(v), project.env) for k, v in raw.items() if v is not None}}


def encoded(env: Mapping[str, str]) -> str:
    return json.dumps(expected_endpoints(env), sort_keys=True)
