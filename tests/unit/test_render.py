"""stagectl render: determinism, no secrets, structure of every rendered file, template errors,
atomic write, and `render --check` on a temp copy of the repo."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from compose_spec import PyCompose
from hypothesis import given, settings
from hypothesis import strategies as st

from stagectl.config.envfile import parse_env_file, parse_env_text
from stagectl.config.interpolate import interpolate_tree
from stagectl.errors import ConfigError
from stagectl.render import check, committed_project, render, write
from stagectl.render.engine import _dotenv
from stagectl.secrets import is_secret_name

REPO = Path(__file__).resolve().parents[2]
# docs/contract.md §6: the only series the dashboard exposes (histograms add _bucket/_sum/_count).
CONTRACT_METRICS = {
    "dashboard_requests_total", "dashboard_errors_total", "dashboard_request_duration_seconds",
    "dashboard_health_score", "dashboard_degradation_level", "dashboard_service_up",
    "dashboard_feature_available", "circuit_breaker_state", "circuit_breaker_failures_total",
    "circuit_breaker_transitions_total", "dashboard_fallback_total", "dashboard_rate_limited_total",
}
CANARY = "canary-s3cr3t-7f3a9"


def _copy_repo(dest: Path) -> Path:
    for name in ("stagectl.yaml", ".env.staging.example"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("templates", "compose", "deploy"):
        shutil.copytree(REPO / name, dest / name)
    return dest


@pytest.fixture()
def repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return _copy_repo(root)


@pytest.fixture(scope="module")
def rendered():
    return render(committed_project(REPO))


@pytest.fixture(scope="module")
def compose(rendered) -> dict:
    return yaml.safe_load(rendered.files["docker-compose.staging.yml"].content)


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    return {v.name: v.value for v in parse_env_file(REPO / ".env.staging.example")}


def _set_example(root: Path, **values: str) -> None:
    path = root / ".env.staging.example"
    text = path.read_text()
    for name, value in values.items():
        text, count = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", text)
        assert count == 1, name
    path.write_text(text)


# --- determinism and secrets ----------------------------------------------------------------

def test_two_renders_are_byte_identical_and_ignore_the_process_env(monkeypatch, rendered):
    monkeypatch.setenv("DASHBOARD_PORT", "18080")
    monkeypatch.setenv("POSTGRES_PASSWORD", CANARY)
    again = render(committed_project(REPO))
    assert {p: (f.content, f.mode) for p, f in again.files.items()} == {
        p: (f.content, f.mode) for p, f in rendered.files.items()
    }
    assert all(CANARY not in f.content and "18080" not in f.content for f in again.files.values())


def test_committed_compose_dir_is_current():
    diffs = check(committed_project(REPO))
    assert diffs == [], "compose/ is stale, run `stagectl render`: " + ", ".join(f"{d.kind} {d.path}" for d in diffs)


def test_secret_values_of_the_env_file_never_reach_the_output(repo_copy):
    secrets = [n for n in (v.name for v in parse_env_file(repo_copy / ".env.staging.example")) if is_secret_name(n)]
    assert len(secrets) >= 6
    _set_example(repo_copy, **{name: f"{CANARY}-{i}" for i, name in enumerate(secrets)})
    result = render(committed_project(repo_copy))
    leaked = [p for p, f in result.files.items() if CANARY in f.content]
    assert leaked == []


# --- the compose file -----------------------------------------------------------------------

def test_compose_has_every_spec_service_with_its_healthcheck_and_limits(compose):
    stack = committed_project(REPO).stack
    assert list(compose["services"]) == list(stack.services)
    for name, svc in stack.services.items():
        got = compose["services"][name]
        hc = got["healthcheck"]
        assert [part.replace("$$", "$") for part in hc["test"]] == svc.healthcheck.test, name
        for field in ("interval", "timeout", "start_period"):
            assert hc[field] == f"{int(getattr(svc.healthcheck, field))}s", (name, field)
        assert hc["retries"] == svc.healthcheck.retries
        assert got["restart"] == svc.restart and got["stop_signal"] == svc.stop_signal
        assert got["stop_grace_period"] == f"{int(svc.stop_grace_period)}s"
        limits = got["deploy"]["resources"]["limits"]
        assert (limits["memory"], float(limits["cpus"])) == (svc.resources.memory, svc.resources.cpus)
        assert got.get("depends_on", {}) == {d: {"condition": "service_healthy"} for d in svc.depends_on}
        for volume, target in svc.volumes.items():
            assert f"{volume}:{target}" in got["volumes"] and volume in compose["volumes"]


def test_only_published_services_get_host_ports_on_loopback_and_the_frontend(compose):
    stack = committed_project(REPO).stack
    backend = stack.network
    assert set(compose["networks"]) == {backend, "frontend"}
    assert compose["networks"][backend]["internal"] is True
    assert compose["networks"]["frontend"].get("internal", False) is False
    for name, svc in stack.services.items():
        got = compose["services"][name]
        if svc.publish:
            assert got["networks"] == [backend, "frontend"]
            assert len(got["ports"]) == 1 and got["ports"][0].startswith("127.0.0.1:${")
            assert got["ports"][0].endswith(f":{svc.container_port}")
        else:
            assert got["networks"] == [backend] and "ports" not in got, name


def test_the_host_overlay_publishes_every_other_service_at_its_spec_port_on_loopback(rendered, example):
    """Fault: a service the smoke suite reaches directly (PostgreSQL, Redis, S3, LLM) is not
    published by the compose backend, or published on every interface, or at another port."""
    stack = committed_project(REPO).stack
    host = yaml.safe_load(rendered.files["docker-compose.host.yml"].content)
    resolved = interpolate_tree(host, {**example, "COMPOSE_PROJECT_NAME": "p"})
    expected = {n for n, s in stack.services.items() if s.port and not s.publish}
    assert expected and {n for n, s in host["services"].items() if "ports" in s} == expected
    for name in expected:
        assert resolved["services"][name]["ports"] == [f"127.0.0.1:{stack.services[name].port}:{stack.services[name].container_port}"]
        assert host["services"][name]["networks"] == [stack.network, "frontend"]  # internal networks publish nothing
    dashboard = resolved["services"]["dashboard"]
    assert dashboard["volumes"] == ["../.stagectl/p/compose-logs:/app/logs"]
    assert dashboard["environment"]["LOG_FILE"] == "/app/logs/dashboard.json.log"


def test_redis_and_postgres_server_settings(compose):
    redis = compose["services"]["redis"]
    redis_cmd = " ".join(redis["command"])
    for flag in ("--appendonly ${REDIS_APPENDONLY", "--maxmemory ${REDIS_MAXMEMORY:", "--maxmemory-policy ${REDIS_MAXMEMORY_POLICY",
                 "printf 'requirepass \"%s\"\\n' \"$$REDIS_PASSWORD\" > /tmp/redis-auth.conf", "exec redis-server /tmp/redis-auth.conf"):
        assert flag in redis_cmd
    # the password reaches redis-server and redis-cli through the environment, never argv
    assert "${REDIS_PASSWORD" not in redis_cmd and "--requirepass" not in redis_cmd
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    assert "REDIS_PASSWORD" not in " ".join(redis["healthcheck"]["test"])
    assert "max_connections=${POSTGRES_MAX_CONNECTIONS:-" in " ".join(compose["services"]["postgres"]["command"])


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_secrets_are_required_references_never_values_or_defaults(compose, example):
    text = "\n".join(_strings(compose))
    secrets = [n for n in example if is_secret_name(n)]
    for name in secrets:
        assert example[name] not in text, name
        assert re.search(rf"\$\{{{name}:-", text) is None, f"{name} has a default"
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert referenced == set(secrets)  # every secret is required by some service


def _interpolated(compose: dict, env: dict[str, str]) -> dict:
    return interpolate_tree(compose, env, source="docker-compose.staging.yml")


def test_compose_file_is_valid_compose_spec_once_interpolated(compose, example):
    env = {k: ("x" * 12 if is_secret_name(k) else v) for k, v in example.items()}
    PyCompose.from_yaml(yaml.safe_dump(_interpolated(compose, env))).validate()


def test_compose_refuses_to_interpolate_without_the_secrets(compose, example):
    public = {k: v for k, v in example.items() if not is_secret_name(k)}
    with pytest.raises(ConfigError, match="set [A-Z_]+ in .env.staging"):
        _interpolated(compose, public)


def test_compose_env_file_has_every_variable_and_empty_secrets(rendered, example, tmp_path):
    path = tmp_path / ".env.staging"
    path.write_text(rendered.files[".env.staging"].content)
    parsed = {v.name: v.value for v in parse_env_file(path)}
    assert list(parsed) == list(example)
    for name, value in parsed.items():
        assert value == ("" if is_secret_name(name) else example[name]), name
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if is_secret_name(line.split("=", 1)[0]) and "=" in line and not line.startswith("#"):
            assert "set at deploy time" in lines[i - 1], line


# --- Prometheus, alerts, Grafana --------------------------------------------------------------

def test_prometheus_scrapes_dashboard_with_a_bearer_file_and_loads_the_alerts(rendered, example):
    config = yaml.safe_load(rendered.files["prometheus/prometheus.staging.yml"].content)
    assert config["global"]["scrape_interval"] == example["PROMETHEUS_SCRAPE_INTERVAL"]
    assert [f"prometheus/{f}" for f in config["rule_files"]] == ["prometheus/alerts.staging.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"dashboard", "postgres-exporter", "redis-exporter", "prometheus"}
    auth = jobs["dashboard"]["authorization"]
    assert auth["type"] == "Bearer" and set(auth) == {"type", "credentials_file"}
    assert "X-API-Key" not in rendered.files["prometheus/prometheus.staging.yml"].content.replace("cannot send X-API-Key", "")


def test_alerts_are_the_eight_of_the_contract_with_thresholds_from_env(repo_copy):
    _set_example(repo_copy, ALERT_5XX_RATIO="0.125", ALERT_P95_LATENCY_SECONDS="0.75")
    result = render(committed_project(repo_copy))
    rules = [r for g in yaml.safe_load(result.files["prometheus/alerts.staging.yml"].content)["groups"] for r in g["rules"]]
    severities = {r["alert"]: r["labels"]["severity"] for r in rules}
    assert severities == {
        "DatabaseCircuitBreakerOpen": "critical", "OpenAICircuitBreakerOpen": "warning",
        "RedisCircuitBreakerOpen": "warning", "S3CircuitBreakerOpen": "info",
        "DegradationLevelAboveOptimal": "warning", "DegradationLevelAboveDegraded": "critical",
        "HighHTTP5xxRatio": "warning", "HighP95Latency": "warning",
    }
    by_name = {r["alert"]: r for r in rules}
    assert by_name["HighHTTP5xxRatio"]["expr"].rstrip().endswith("> 0.125")
    assert by_name["HighP95Latency"]["expr"].rstrip().endswith("> 0.75")
    for rule in rules:
        assert rule["for"] and rule["annotations"]["summary"] and rule["annotations"]["description"]
        names = set(_metric_names(rule["expr"]))
        assert names and names <= CONTRACT_METRICS | {"dashboard_request_duration_seconds_bucket"}, rule["alert"]


_METRIC = re.compile(r"\b((?:dashboard|circuit_breaker)_[a-z_]+)\b")


def _metric_names(expr: str) -> list[str]:
    """Series names in a PromQL expression (ours all start with dashboard_ or circuit_breaker_)."""
    return _METRIC.findall(re.sub(r"\{[^}]*\}", "", expr))


def test_grafana_dashboards_query_only_contract_metrics(rendered):
    dashboards = {p: json.loads(f.content) for p, f in rendered.files.items() if p.endswith(".json")}
    assert len(dashboards) == 3
    allowed = CONTRACT_METRICS | {f"dashboard_request_duration_seconds_{s}" for s in ("bucket", "sum", "count")}
    datasource = yaml.safe_load(rendered.files["grafana/provisioning/datasources/prometheus.yml"].content)
    uid = datasource["datasources"][0]["uid"]
    for path, board in dashboards.items():
        assert board["panels"], path
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid
            for target in panel["targets"]:
                names = _metric_names(target["expr"])
                assert names and set(names) <= allowed, (path, target["expr"])
    provider = yaml.safe_load(rendered.files["grafana/provisioning/dashboards/dashboards.yml"].content)
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/provisioning/dashboards"


def test_s3_init_script_embeds_the_python_initialiser(rendered):
    script = rendered.files["s3/init-s3.sh"]
    assert script.mode & 0o111 and script.content.startswith("#!/bin/sh\n")
    source = (REPO / "stagectl" / "s3init.py").read_text()
    assert source in script.content


# --- template errors and atomic writes --------------------------------------------------------

def test_undefined_variable_names_template_line_and_variable(repo_copy):
    (repo_copy / "templates" / "broken.yml.j2").write_text("a: 1\nb: 2\nc: {{ no_such_value }}\n")
    with pytest.raises(ConfigError) as info:
        render(committed_project(repo_copy))
    assert "templates/broken.yml.j2:3" in info.value.message and "no_such_value" in info.value.message


def test_syntax_error_names_template_and_line(repo_copy):
    (repo_copy / "templates" / "prometheus" / "bad.yml.j2").write_text("x: 1\n{% if %}\n")
    with pytest.raises(ConfigError, match=r"templates/prometheus/bad.yml.j2:2: template syntax error"):
        render(committed_project(repo_copy))


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_broken_template_leaves_compose_untouched_and_no_partial_files(repo_copy):
    before = _snapshot(repo_copy / "compose")
    (repo_copy / "templates" / "zz-broken.yml.j2").write_text("{{ missing_thing }}\n")
    (repo_copy / "templates" / "docker-compose.staging.yml.j2").write_text("changed: true\n")
    with pytest.raises(ConfigError):
        project = committed_project(repo_copy)
        write(render(project), project.render_dir)
    assert _snapshot(repo_copy / "compose") == before
    assert sorted(p.name for p in repo_copy.iterdir() if p.name.startswith(".compose")) == []


def test_failed_swap_restores_the_old_directory(repo_copy, monkeypatch):
    project = committed_project(repo_copy)
    (repo_copy / "compose" / "hand-edit.txt").write_text("old\n")
    before = _snapshot(repo_copy / "compose")
    real_rename, calls = os.rename, []

    def flaky_rename(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the new dir moving into place
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky_rename)
    with pytest.raises(Exception, match="could not write"):
        write(render(project), project.render_dir)
    monkeypatch.setattr(os, "rename", real_rename)
    assert _snapshot(repo_copy / "compose") == before
    assert [p.name for p in repo_copy.iterdir() if p.name.startswith(".compose")] == []


def test_check_reports_changed_missing_extra_and_mode(repo_copy):
    project = committed_project(repo_copy)
    assert check(project) == []
    compose = repo_copy / "compose"
    (compose / "prometheus" / "prometheus.staging.yml").write_text("hand: edit\n")
    (compose / "grafana" / "provisioning" / "datasources" / "prometheus.yml").unlink()
    (compose / "notes.txt").write_text("mine\n")
    os.chmod(compose / "s3" / "init-s3.sh", 0o644)
    kinds = {d.path: d.kind for d in check(project)}
    assert kinds == {
        "prometheus/prometheus.staging.yml": "changed",
        "grafana/provisioning/datasources/prometheus.yml": "missing",
        "notes.txt": "extra",
        "s3/init-s3.sh": "changed",
    }
    write(render(project), project.render_dir)
    assert check(project) == []


# --- the CLI --------------------------------------------------------------------------------

def _stagectl(root: Path, *args: str, capsys) -> SimpleNamespace:
    """Run the real CLI entry point (error boundary included) in-process, with only `render`
    registered so that another command's state cannot break these tests."""
    from stagectl import cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main(["--project-dir", str(root), *args], application=cli.build_app(("render",)))
    out = capsys.readouterr()
    return SimpleNamespace(returncode=done.value.code, stdout=out.out, stderr=out.err)


@pytest.fixture(autouse=True)
def _wide_plain_console(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def test_render_check_cli_exits_0_when_current_and_1_after_a_template_edit(repo_copy, capsys):
    ok = _stagectl(repo_copy, "render", "--check", capsys=capsys)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    template = repo_copy / "templates" / "prometheus" / "prometheus.staging.yml.j2"
    template.write_text(template.read_text().replace("job_name: redis-exporter", "job_name: redis-exp"))
    stale = _stagectl(repo_copy, "render", "--check", capsys=capsys)
    assert stale.returncode == 1
    assert "-  - job_name: redis-exporter" in stale.stdout and "+  - job_name: redis-exp" in stale.stdout
    as_json = json.loads(_stagectl(repo_copy, "render", "--check", "--json", "--target", "compose", capsys=capsys).stdout)
    assert as_json["current"] is False and [d["path"] for d in as_json["differences"]] == ["prometheus/prometheus.staging.yml"]
    written = _stagectl(repo_copy, "render", capsys=capsys)
    assert written.returncode == 0 and "updated: compose/prometheus/prometheus.staging.yml" in written.stdout
    assert _stagectl(repo_copy, "render", "--check", "--target", "compose", capsys=capsys).returncode == 0
    # The Kubernetes layout embeds the same prometheus.yml: `render --check` (every target) still fails.
    assert _stagectl(repo_copy, "render", "--check", capsys=capsys).returncode == 1
    assert _stagectl(repo_copy, "render", "--target", "kubernetes", capsys=capsys).returncode == 0
    assert _stagectl(repo_copy, "render", "--check", capsys=capsys).returncode == 0


def test_render_check_diff_masks_secrets_pasted_into_compose(repo_copy, capsys):
    (repo_copy / ".env.staging").write_text(f"POSTGRES_PASSWORD={CANARY}\n")
    target = repo_copy / "compose" / "docker-compose.staging.yml"
    target.write_text(target.read_text().replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env.staging}", CANARY))
    result = _stagectl(repo_copy, "render", "--check", capsys=capsys)
    assert result.returncode == 1
    assert CANARY not in result.stdout + result.stderr and "****" in result.stdout


# --- value quoting ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters="$"), max_size=40))
def test_dotenv_quoting_reads_back_unchanged(value):
    (var,) = parse_env_text(f"NAME={_dotenv(value)}\n")
    assert var.value == value
