"""`stagectl render --target kubernetes`: the mapping from the spec (probes, resources, images,
secrets, NetworkPolicies), the committed layout being current, and the user's secrets.env."""

from __future__ import annotations

import math
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stagectl.config.loader import load_project
from stagectl.errors import ConfigError
from stagectl.images.catalog import images_for_services
from stagectl.render import committed_project
from stagectl.render.k8s_plan import cpu, memory
from stagectl.render.kubernetes import (
    SECRETS_ENV,
    compare_kubernetes,
    literal,
    out_dir,
    render_kubernetes,
    write_kubernetes,
)
from stagectl.secrets import is_secret_name
from tests.unit.fixtures_checks.helpers import context, copy_stack
from tests.unit.fixtures_checks.k8s_cases import edit_doc

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-Secret-7f3a9c1e55"


@pytest.fixture(scope="module")
def project():
    return committed_project(REPO)


@pytest.fixture(scope="module")
def docs(project) -> dict[tuple[str, str], dict]:
    result = render_kubernetes(project)
    out = {}
    for rendered in result.files.values():
        if rendered.path.endswith(".yaml"):
            for doc in yaml.safe_load_all(rendered.content):
                out[(doc["kind"], doc["metadata"]["name"] if "metadata" in doc else rendered.path)] = doc
    return out


def _workload(docs, name):
    return docs.get(("StatefulSet", name)) or docs[("Deployment", name)]


def test_committed_layout_is_current(project):
    assert compare_kubernetes(render_kubernetes(project), out_dir(project)) == []


def test_probes_map_the_healthcheck_of_every_service(project, docs):
    for name, svc in project.stack.services.items():
        container = _workload(docs, name)["spec"]["template"]["spec"]["containers"][0]
        hc = svc.healthcheck
        for kind in ("readinessProbe", "livenessProbe"):
            probe = container[kind]
            assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (
                math.ceil(hc.interval), math.ceil(hc.timeout), hc.retries), (name, kind)
        startup = container["startupProbe"]
        assert startup["failureThreshold"] == math.ceil(hc.start_period / math.ceil(hc.interval)) + hc.retries
        if hc.path:
            want = "/health/ready" if name == "dashboard" else hc.path
            assert container["readinessProbe"]["httpGet"]["path"] == want
            assert container["livenessProbe"]["httpGet"]["path"] == hc.path
        else:
            assert container["livenessProbe"]["exec"]["command"][-1] in " ".join(hc.test)


def test_dashboard_probes_are_ready_and_live(docs):
    container = docs[("Deployment", "dashboard")]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_limits_come_from_resources(project, docs):
    for name, svc in project.stack.services.items():
        res = _workload(docs, name)["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert res["limits"] == {"cpu": cpu(svc.resources.cpus), "memory": memory(svc.resources.memory)}
        assert res["requests"]["memory"] == res["limits"]["memory"]


@pytest.mark.parametrize(("compose", "k8s"), [("640m", "640Mi"), ("1g", "1Gi"), ("512M", "512Mi"), ("64k", "64Ki"), ("1024", "1024")])
def test_memory_units_are_binary_not_milli(compose, k8s):
    assert memory(compose) == k8s


def test_a_memory_size_that_is_not_one_is_a_config_error():
    with pytest.raises(ConfigError, match="not a size"):
        memory("lots")


def test_stateful_services_and_claims_follow_the_spec(project, docs):
    for name, size in project.stack.kubernetes.storage.items():
        sts = docs[("StatefulSet", name)]
        claims = {c["metadata"]["name"]: c["spec"]["resources"]["requests"]["storage"] for c in sts["spec"]["volumeClaimTemplates"]}
        assert claims == {v.replace("_", "-"): size for v in project.stack.services[name].volumes}
    assert ("Deployment", "dashboard") in docs and ("Deployment", "llm") in docs


def test_images_use_the_registry_prefix_and_never_latest(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copy2(REPO / ".env.staging.example", root / ".env.staging.example")
    spec = (REPO / "stagectl.yaml").read_text().replace('image_registry: ""', "image_registry: registry.example.com/team")
    (root / "stagectl.yaml").write_text(spec.replace("  storage:", "  build_image_tag: rc-7\n  storage:"))
    result = render_kubernetes(committed_project(root))
    images = {line.split("image: ", 1)[1].strip('"') for f in result.files.values() for line in f.content.splitlines() if "image: " in line}
    built = images_for_services(["dashboard"])["dashboard"].tag.rpartition(":")[0]
    assert f"registry.example.com/team/{built}:rc-7" in images
    assert all(i.startswith("registry.example.com/team/") and not i.endswith(":latest") for i in images), images


def test_built_images_are_the_ones_the_local_build_makes():
    """Fault: the cluster would pull a name no local build (stagectl/images) produces."""
    project = committed_project(REPO)
    built = {name for name, svc in project.stack.services.items() if svc.build}
    assert built, "the spec builds no image: nothing to compare"
    expected = {name: spec.tag for name, spec in images_for_services(built).items()}
    assert set(expected) == built, f"no catalog image for {sorted(built - set(expected))}"
    rendered = {}
    for name in built:
        text = (REPO / "deploy/kubernetes/base" / f"{name}.yaml").read_text()
        workloads = [d for d in yaml.safe_load_all(text) if d and d.get("kind") in ("Deployment", "StatefulSet")]
        rendered[name] = workloads[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert rendered == expected


def test_latest_as_build_tag_is_refused(tmp_path):
    root = copy_stack(tmp_path)
    (root / "stagectl.yaml").write_text((root / "stagectl.yaml").read_text() + "\nkubernetes:\n  build_image_tag: latest\n")
    with pytest.raises(ConfigError, match="latest"):
        load_project(root, use_process_env=False, allow_example=True)


def test_no_secret_reaches_the_render_and_secrets_are_referenced_by_key(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "templates", root / "templates")
    for name in ("stagectl.yaml", ".env.staging.example"):
        shutil.copy2(REPO / name, root / name)
    example = (root / ".env.staging.example").read_text()
    (root / ".env.staging").write_text(example.replace("POSTGRES_PASSWORD=change-me-postgres", f"POSTGRES_PASSWORD={CANARY}"))
    result = render_kubernetes(committed_project(root))
    assert all(CANARY not in f.content for f in result.files.values())
    settings_cm = yaml.safe_load(result.files["base/settings.yaml"].content)
    assert not [k for k in settings_cm["data"] if is_secret_name(k)]
    secret_refs = {line.split("key: ", 1)[1] for f in result.files.values() for line in f.content.splitlines()
                   if "key: " in line and is_secret_name(line.split("key: ", 1)[1])}
    assert "POSTGRES_PASSWORD" in secret_refs and "DASHBOARD_API_KEY" in secret_refs


def test_network_policies_let_only_the_dashboard_and_exporters_reach_the_data_services(docs):
    def sources(name):
        spec = docs[("NetworkPolicy", name)]["spec"]
        return {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for rule in spec.get("ingress") or [] for peer in rule.get("from") or []}

    assert sources("postgres") == {"dashboard", "postgres-exporter"}
    assert sources("redis") == {"dashboard", "redis-exporter"}
    assert sources("s3") == {"dashboard", "s3-init"}
    assert sources("llm") == {"dashboard"}
    assert sources("dashboard") == {"prometheus"}  # plus the open rule for clients
    deny = docs[("NetworkPolicy", "default-deny")]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_prometheus_config_and_the_eight_rules_are_the_compose_files(project, docs):
    from stagectl.render import render

    compose = render(project).files
    data = docs[("ConfigMap", "prometheus-config")]["data"]
    assert data["alerts.staging.yml"] == compose["prometheus/alerts.staging.yml"].content
    assert data["prometheus.yml"] == compose["prometheus/prometheus.staging.yml"].content
    rules = yaml.safe_load(data["alerts.staging.yml"])["groups"]
    assert sum(len(g["rules"]) for g in rules) == 8


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_categories=("Cc", "Cs")), max_size=60).map(lambda s: s.replace("\r", "")),
       st.sampled_from(["", "\n", "\n\n", "x\n  y\n"]))
def test_literal_blocks_round_trip(text, tail):
    content = text + tail
    if not content.strip() or content != content.lstrip("\n"):
        return  # the renderer embeds whole files, which start with a comment line
    doc = yaml.safe_load(f"key: {literal(content, 2)}\n")
    assert doc["key"] == (content if content.endswith("\n") else content + "\n")


def test_write_keeps_the_users_secrets_env_and_check_ignores_it(tmp_path, project):
    target = tmp_path / "kubernetes"
    result = render_kubernetes(project)
    write_kubernetes(result, target)
    secrets = target / SECRETS_ENV
    secrets.write_text(f"POSTGRES_PASSWORD={CANARY}\n")
    os.chmod(secrets, 0o600)
    assert compare_kubernetes(result, target) == []
    (target / "base" / "notes.yaml").write_text("a: 1\n")
    assert [(d.path, d.kind) for d in compare_kubernetes(result, target)] == [("base/notes.yaml", "extra")]
    write_kubernetes(result, target)
    assert secrets.read_text() == f"POSTGRES_PASSWORD={CANARY}\n"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert not (target / "base" / "notes.yaml").exists()


def test_secrets_env_holds_every_secret_variable_mode_0600(tmp_path, capsys, monkeypatch):
    from stagectl.render.kubernetes import main

    root = tmp_path / "repo"
    root.mkdir()
    for name in ("stagectl.yaml", ".env.staging.example"):
        shutil.copy2(REPO / name, root / name)
    example = (root / ".env.staging.example").read_text()
    (root / ".env.staging").write_text(example.replace("REDIS_PASSWORD=change-me-redis", f"REDIS_PASSWORD={CANARY}"))
    monkeypatch.chdir(root)
    assert main(["secrets-env"]) == 0
    out = capsys.readouterr()
    assert CANARY not in out.out + out.err and "secrets.env" in out.out
    path = root / "deploy/kubernetes" / SECRETS_ENV
    names = [line.split("=", 1)[0] for line in path.read_text().splitlines()]
    assert names == sorted(n for n in (line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")) if is_secret_name(n))
    assert f"REDIS_PASSWORD={CANARY}" in path.read_text().splitlines()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_secret_in_a_config_map_fails_even_without_a_user_env(tmp_path):
    from stagectl.validate.runner import load_builtin_checks, run_one

    root = copy_stack(tmp_path)
    edit_doc(root, "base/settings.yaml", "ConfigMap", "settings", lambda d: d["data"].update(REDIS_PASSWORD="change-me-redis"))
    ctx = context(root)
    try:
        results = run_one(load_builtin_checks()["kubernetes.no_secret_values"], ctx)
    finally:
        ctx.close()
    assert [r.status for r in results] == ["fail"] and "settings.REDIS_PASSWORD" in results[0].id


def test_schema_validation_uses_the_stated_version(tmp_path):
    """A field that only exists in later Kubernetes versions fails under an older stated version."""
    from stagectl.validate.runner import load_builtin_checks, run_one

    root = copy_stack(tmp_path)
    (root / "stagectl.yaml").write_text((root / "stagectl.yaml").read_text() + '\nkubernetes:\n  version: "1.27"\n')
    # resizePolicy (in-place pod resize) arrived in 1.27's schema; trafficDistribution only in 1.30+.
    edit_doc(root, "base/redis.yaml", "Service", "redis", lambda d: d["spec"].update(trafficDistribution="PreferClose"))
    ctx = context(root)
    try:
        results = run_one(load_builtin_checks()["kubernetes.schema"], ctx)
    finally:
        ctx.close()
    assert results[0].status == "fail" and "trafficDistribution" in results[0].message


def test_a_services_spec_environment_reaches_its_container(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copy2(REPO / ".env.staging.example", root / ".env.staging.example")
    spec = (REPO / "stagectl.yaml").read_text().replace(
        "    runner: llm_stub\n", "    runner: llm_stub\n    environment: {LLM_STUB_LATENCY_MS: \"25\"}\n", 1)
    (root / "stagectl.yaml").write_text(spec)
    result = render_kubernetes(committed_project(root))
    llm = next(d for d in yaml.safe_load_all(result.files["base/llm.yaml"].content) if d["kind"] == "Deployment")
    assert {"name": "LLM_STUB_LATENCY_MS", "value": "25"} in llm["spec"]["template"]["spec"]["containers"][0]["env"]


def test_render_check_cli_shows_a_hand_edit_of_the_layout_and_refuses_an_unknown_target(tmp_path, capsys, monkeypatch):
    from tests.unit.test_render import _copy_repo, _stagectl

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    root = tmp_path / "repo"
    root.mkdir()
    _copy_repo(root)
    path = root / "deploy/kubernetes/base/redis.yaml"
    path.write_text(path.read_text().replace('memory: "640Mi"', 'memory: "64Mi"'))
    stale = _stagectl(root, "render", "--check", "--target", "kubernetes", capsys=capsys)
    assert stale.returncode == 1
    assert "changed: deploy/kubernetes/base/redis.yaml" in stale.stdout and '+              memory: "640Mi"' in stale.stdout
    assert _stagectl(root, "render", "--check", "--target", "compose", capsys=capsys).returncode == 0
    assert _stagectl(root, "render", "--target", "kubernetes", capsys=capsys).returncode == 0
    assert _stagectl(root, "render", "--check", capsys=capsys).returncode == 0
    bad = _stagectl(root, "render", "--target", "helm", capsys=capsys)
    assert bad.returncode == 2 and "'helm' is not one of 'compose', 'kubernetes', 'all'" in bad.stdout + bad.stderr


def test_run_render_check_phase_checks_every_target_like_render_check(tmp_path):
    """Fault: `stagectl run` passes its render_check phase while deploy/kubernetes/ is stale."""
    from stagectl.render import check_phase
    from tests.unit.test_render import _copy_repo

    root = tmp_path / "repo"
    root.mkdir()
    _copy_repo(root)
    current = check_phase(root)
    assert current.status == "passed", current.reason
    assert {c.id for c in current.checks} == {"render.current", "render.kubernetes.current"}
    path = root / "deploy/kubernetes/base/redis.yaml"
    path.write_text(path.read_text().replace('memory: "640Mi"', 'memory: "64Mi"'))
    stale = check_phase(root)
    failed = [c for c in stale.checks if c.failed]
    assert stale.status == "failed" and [c.id for c in failed] == ["render.kubernetes.base/redis.yaml"]
    assert "render --target kubernetes" in failed[0].hint and '640Mi' in failed[0].evidence
    assert "render.current" in {c.id for c in stale.checks if c.status == "pass"}
