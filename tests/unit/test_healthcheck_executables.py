"""healthchecks.executables_in_image: a healthcheck may only run what its image contains."""

from __future__ import annotations

import pytest

from checks.static._image_tools import PROVIDES, repository
from checks.static.healthchecks import healthcheck_executables
from tests.unit.fixtures_checks.helpers import COMPOSE, copy_stack, edit_yaml, run

CHECK = "healthchecks.executables_in_image"
LOCAL = "compose/docker-compose.local-images.yml"


def _fails(root):
    return [r.message for r in run(root, CHECK) if r.status == "fail"]


@pytest.mark.parametrize(("test", "programs"), [
    (["CMD", "wget", "-q", "x"], ["wget"]),
    (["CMD-SHELL", "redis-cli ping | grep -q PONG"], ["sh", "redis-cli", "grep"]),
    (["CMD-SHELL", "python3 -c \"import a; b('x|y')\""], ["sh", "python3"]),
    ("REDISCLI_AUTH=x curl -f http://h && exec wget y", ["sh", "curl", "wget"]),
])
def test_programs_of_a_healthcheck(test, programs):
    assert healthcheck_executables(test) == programs


def test_repository_drops_tag_registry_and_digest():
    assert repository("prom/prometheus:v2.54.1") == "prom/prometheus"
    assert repository("registry.example.com:5000/team/redis:7-alpine@sha256:abc") == "redis"
    assert repository("docker.io/library/postgres:15-alpine") == "postgres"


def test_real_fixture_passes(tmp_path):
    root = copy_stack(tmp_path)
    assert _fails(root) == []


def test_curl_in_a_wget_image_fails_naming_both(tmp_path):
    root = copy_stack(tmp_path)
    edit_yaml(root, COMPOSE, lambda d: d["services"]["grafana"]["healthcheck"].update(
        test=["CMD-SHELL", "curl -fsS http://127.0.0.1:3000/api/health || exit 1"]))
    [message] = _fails(root)
    assert "grafana" in message and "'curl'" in message and "wget" in message


def test_shell_form_in_a_scratch_image_fails(tmp_path):
    """The upstream redis_exporter has no shell at all: even `CMD-SHELL /redis_exporter` fails."""
    root = copy_stack(tmp_path)
    edit_yaml(root, COMPOSE, lambda d: d["services"]["redis-exporter"]["healthcheck"].update(
        test=["CMD-SHELL", "/redis_exporter --version"]))
    assert any("'sh'" in m for m in _fails(root))


def test_undeclared_image_fails(tmp_path):
    root = copy_stack(tmp_path)
    edit_yaml(root, COMPOSE, lambda d: d["services"]["redis"].update(image="valkey/valkey:8"))
    assert any("not declared" in m for m in _fails(root))


def test_local_images_override_is_checked_with_its_own_image(tmp_path):
    """The local redis-exporter image has wget; the upstream one does not. An override that keeps
    the upstream `--version` test passes; a curl test in the local image fails."""
    root = copy_stack(tmp_path)
    (root / LOCAL).write_text(
        "services:\n"
        "  redis-exporter:\n"
        "    image: stagectl-local/redis-exporter:bookworm\n"
        "    healthcheck:\n"
        '      test: ["CMD", "curl", "-f", "http://127.0.0.1:9121/metrics"]\n', encoding="utf-8")
    [message] = _fails(root)
    assert "stagectl-local/redis-exporter" in message and "'curl'" in message


def test_every_local_catalog_image_is_declared():
    from stagectl.images.catalog import CATALOG

    runnable = [spec for spec in CATALOG if spec.services]
    assert [spec.tag for spec in runnable if repository(spec.tag) not in PROVIDES] == []
