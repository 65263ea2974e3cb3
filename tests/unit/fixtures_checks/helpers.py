"""Test helpers for the static checks: a tmp copy of the known-good fixture stack, targeted
mutations of its files, and running one check against it."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import yaml

from stagectl.config.loader import load_project
from stagectl.results import CheckResult
from stagectl.validate.context import CheckContext
from stagectl.validate.runner import load_builtin_checks, run_one

FIXTURE = Path(__file__).parent / "stack"
COMPOSE = "compose/docker-compose.staging.yml"
PROM = "compose/prometheus/prometheus.staging.yml"
ALERTS = "compose/prometheus/alerts.staging.yml"
ALERT_TESTS = "compose/prometheus/alerts.staging.test.yml"
DATASOURCE = "compose/grafana/provisioning/datasources/prometheus.yml"
PROVIDER = "compose/grafana/provisioning/dashboards/dashboards.yml"
DASHBOARD_JSON = "compose/grafana/dashboards/inventario.json"
S3 = "compose/s3/init-s3.sh"
EXAMPLE = ".env.staging.example"
RENDERED_ENV = "compose/.env.staging"


def copy_stack(tmp_path: Path) -> Path:
    root = tmp_path / "stack"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def context(root: Path, **kwargs) -> CheckContext:
    project = load_project(root, use_process_env=False, allow_example=True)
    return CheckContext(project, **kwargs)


def run(root: Path, check_id: str, **kwargs) -> list[CheckResult]:
    registry = load_builtin_checks()
    ctx = context(root, **kwargs)
    try:
        return run_one(registry[check_id], ctx)
    finally:
        ctx.close()  # reap the tool process the check started


# -- mutations: each asserts its target exists, so a changed fixture breaks loudly ---------------


def edit_yaml(root: Path, rel: str, change) -> None:
    path = root / rel
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def replace(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def set_env(root: Path, rel: str, name: str, value: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"^{name}=.*$", re.M)
    assert pattern.search(text), f"{name} not in {rel}"
    path.write_text(pattern.sub(lambda _: f"{name}={value}", text), encoding="utf-8")


def drop_env(root: Path, rel: str, name: str) -> None:
    path = root / rel
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith(f"{name}=")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def append(root: Path, rel: str, text: str) -> None:
    with (root / rel).open("a", encoding="utf-8") as handle:
        handle.write(text)


def remove(root: Path, rel: str) -> None:
    (root / rel).unlink()


def user_env(root: Path, **overrides: str) -> None:
    """Write a valid .env.staging: the example with strong fresh secrets, then `overrides`."""
    from stagectl.secrets import is_secret_name

    lines = []
    for line in (root / EXAMPLE).read_text(encoding="utf-8").splitlines():
        name = line.split("=", 1)[0]
        if "=" in line and not line.startswith("#") and is_secret_name(name):
            line = f"{name}={secrets.token_urlsafe(24)}"
        lines.append(line)
    (root / ".env.staging").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, value in overrides.items():
        set_env(root, ".env.staging", name, value)


def chmod(root: Path, rel: str, mode: int) -> None:
    os.chmod(root / rel, mode)
