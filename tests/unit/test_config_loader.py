"""load_project: golden errors with file:line and key path, precedence, sources, example fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagectl.config.loader import find_root, load_project
from stagectl.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-5b8e0c2a"

SPEC = """\
version: 1
project: ${PROJECT_NAME:-demo}
services:
  db:
    runner: postgres
    port: ${DB_PORT:-5433}
    container_port: 5432
    healthcheck:
      probe: postgres
      interval: 2s
  api:
    runner: dashboard
    port: 8080
    container_port: 8080
    depends_on: [db]
    healthcheck:
      probe: http
      path: /health
"""

ENV = f"""\
# demo env
DB_PASSWORD={CANARY}
DB_PORT=6000
"""


def make_project(tmp_path: Path, spec: str = SPEC, env: str | None = ENV, example: str | None = None) -> Path:
    (tmp_path / "stagectl.yaml").write_text(spec, encoding="utf-8")
    if env is not None:
        (tmp_path / ".env.staging").write_text(env, encoding="utf-8")
    if example is not None:
        (tmp_path / ".env.staging.example").write_text(example, encoding="utf-8")
    return tmp_path


def edit(old: str, new: str) -> str:
    assert old in SPEC, old  # a typo in the test table must not turn into a passing no-op
    return SPEC.replace(old, new, 1)


# (spec, golden ConfigError message) — each names stagectl.yaml:LINE and the key path
BAD_SPECS = [
    pytest.param("version: 1\nservices: [\n", "stagectl.yaml:3: invalid YAML: expected the node content, but found '<stream end>'", id="invalid-yaml"),
    pytest.param("- a\n- b\n", "stagectl.yaml:1: expected a mapping at the top level, found list", id="top-level-list"),
    pytest.param(edit("    container_port: 5432\n", "    container_port: 5432\n    colour: red\n"),
                 "stagectl.yaml:8: services.db.colour: unknown key 'colour' (expected one of: description, runner, command, image, build, port, container_port, publish, optional, enabled, depends_on, healthcheck, volumes, environment, resources, stop_signal, stop_grace_period, restart)",
                 id="unknown-key"),
    pytest.param(edit("    port: 8080\n", "    port: eighty\n"),
                 "stagectl.yaml:13: services.api.port: expected a valid integer, unable to parse string as an integer; found 'eighty'", id="wrong-type"),
    pytest.param(edit("      interval: 2s\n", "      interval: soon\n"),
                 "stagectl.yaml:10: services.db.healthcheck.interval: expected a duration like 10s or 500ms, found 'soon'", id="bad-duration"),
    pytest.param(edit("depends_on: [db]", "depends_on: [db, cache]"),
                 "stagectl.yaml:15: services.api.depends_on[1]: unknown service 'cache' (expected one of: api, db)", id="unknown-depends-on"),
    pytest.param(edit("    container_port: 5432\n", "    container_port: 5432\n    depends_on: [api]\n"),
                 "stagectl.yaml:16: services.api.depends_on: dependency cycle among api, db", id="cycle"),
    pytest.param(edit("    port: 8080\n", "    port: 6000\n"),
                 "stagectl.yaml:13: services.api.port: port 6000 is also used by service 'db'", id="duplicate-port"),
    pytest.param(edit("${PROJECT_NAME:-demo}", "${PROJECT_NAME:?set PROJECT_NAME}"),
                 "stagectl.yaml:2: project: required variable PROJECT_NAME is missing a value: set PROJECT_NAME", id="required-unset"),
    pytest.param(edit("      path: /health\n", "      path: /health${\n"),
                 "stagectl.yaml:18: services.api.healthcheck.path: unterminated ${ (missing closing })", id="unterminated"),
    pytest.param(edit("    runner: dashboard\n", ""),
                 "stagectl.yaml:11: services.api: missing required key 'runner'", id="missing-key"),
    pytest.param(edit("  api:\n", "  db:\n"),
                 "stagectl.yaml:11: services.db: duplicate key (first defined on line 4)", id="duplicate-key"),
    pytest.param(edit("    port: 8080\n", "    port: ${DB_PASSWORD}\n"),
                 "stagectl.yaml:13: services.api.port: expected a valid integer, unable to parse string as an integer; found '****'", id="secret-masked"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_spec_golden_errors(tmp_path: Path, spec: str, message: str) -> None:
    make_project(tmp_path, spec)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path, use_process_env=False)
    assert info.value.message == message
    assert info.value.exit_code == 2
    assert CANARY not in info.value.message


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    spec = edit("    port: 8080\n", "    port: eighty\n").replace("      interval: 2s\n", "      interval: soon\n")
    make_project(tmp_path, spec)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path, use_process_env=False)
    lines = info.value.message.splitlines()
    assert lines[0].endswith("(and 1 more below)")
    assert [line.strip().split(":")[1] for line in lines] == ["10", "13"]


def test_bad_env_file_is_reported_with_its_line(tmp_path: Path) -> None:
    make_project(tmp_path, env=f'A=1\nDB_PASSWORD="{CANARY}\n')
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path, use_process_env=False)
    assert info.value.message == ".env.staging:2: unterminated double-quoted value of DB_PASSWORD"


def test_precedence_default_file_env_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(tmp_path, env="OTHER=1\n")
    monkeypatch.delenv("DB_PORT", raising=False)
    project = load_project(tmp_path)
    assert (project.stack.services["db"].port, project.sources["DB_PORT"]) == (5433, "default")

    make_project(tmp_path, env="OTHER=1\nDB_PORT=6001\n")
    project = load_project(tmp_path)
    assert (project.stack.services["db"].port, project.sources["DB_PORT"]) == (6001, ".env.staging:2")

    monkeypatch.setenv("DB_PORT", "6002")
    project = load_project(tmp_path)
    assert (project.stack.services["db"].port, project.sources["DB_PORT"]) == (6002, "env")

    project = load_project(tmp_path, overrides={"DB_PORT": "6003"})
    assert (project.stack.services["db"].port, project.sources["DB_PORT"]) == (6003, "cli")
    assert project.env["DB_PORT"] == "6003"


def test_process_env_only_for_variables_of_the_interface(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault caught: the whole process environment (PATH, HOME, …) leaking into project.env."""
    make_project(tmp_path)
    monkeypatch.setenv("UNRELATED_VARIABLE_X", "1")
    project = load_project(tmp_path)
    assert "UNRELATED_VARIABLE_X" not in project.env
    assert project.env["DB_PASSWORD"] == CANARY


def test_key_sources_name_the_line_or_default(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path), use_process_env=False)
    assert project.sources["services.db.port"] == "stagectl.yaml:6"
    assert project.sources["services.api.healthcheck.path"] == "stagectl.yaml:18"
    assert project.sources["services.db.restart"] == "default"
    assert project.sources["DB_PASSWORD"] == ".env.staging:2"
    assert project.stack.services["db"].healthcheck.interval == 2.0


def test_missing_env_file_is_an_error_unless_example_allowed(tmp_path: Path) -> None:
    make_project(tmp_path, env=None, example="DB_PORT=7000\nDB_PASSWORD=change-me\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path, use_process_env=False)
    assert info.value.message == ".env.staging: env file not found"
    project = load_project(tmp_path, use_process_env=False, allow_example=True)
    assert project.using_example and project.env_path == tmp_path / ".env.staging.example"
    assert project.sources["DB_PORT"] == ".env.staging.example:1"


def test_explicit_env_file_never_falls_back_to_the_example(tmp_path: Path) -> None:
    make_project(tmp_path, env=None, example="DB_PORT=7000\n")
    with pytest.raises(ConfigError, match="other.env: env file not found"):
        load_project(tmp_path, env_file=tmp_path / "other.env", allow_example=True, use_process_env=False)


def test_find_root_searches_upwards(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_root(tmp_path / "a" / "b") == tmp_path.resolve()
    with pytest.raises(ConfigError, match="no stagectl.yaml found"):
        find_root(Path("/"))


def test_the_repository_spec_loads_with_its_example(tmp_path: Path) -> None:
    """The real stagectl.yaml and .env.staging.example stay valid together (no .env.staging needed).

    A copy of the two files, so a developer's own .env.staging in the checkout cannot change what is tested."""
    for name in ("stagectl.yaml", ".env.staging.example"):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    project = load_project(tmp_path, env_file=None, allow_example=True, use_process_env=False)
    assert project.using_example
    assert project.stack.services["postgres"].port == int(project.env["POSTGRES_PORT"])
    waves = project.stack.start_order()
    assert waves[-1] == ["dashboard", "grafana", "postgres-exporter", "redis-exporter"]
    assert "prometheus" in waves[0] and "grafana" not in waves[0]  # Prometheus waits for no target
    assert project.stack.services["postgres"].healthcheck.test[-1].startswith("pg_isready -U ${POSTGRES_USER}")
