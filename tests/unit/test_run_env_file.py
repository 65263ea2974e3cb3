"""`stagectl run` creates the env file the spec names (`env_file`), as `stagectl init` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagectl import context
from stagectl.stack import ensure_env_file

SPEC = """\
version: 1
project: demo
env_file: .env.custom
env_example: .env.custom.example
services:
  db:
    runner: postgres
    port: ${DB_PORT:-5433}
    container_port: 5432
    healthcheck: {probe: postgres}
"""
EXAMPLE = "DB_PORT=5433\nDB_PASSWORD=change-me-db\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stagectl.yaml").write_text(SPEC)
    (tmp_path / ".env.custom.example").write_text(EXAMPLE)
    monkeypatch.chdir(tmp_path)
    context.reset(project_dir=tmp_path)
    yield tmp_path
    context.reset()


def test_an_existing_env_file_named_by_the_spec_is_used_as_is(project: Path) -> None:
    (project / ".env.custom").write_text("DB_PORT=6000\nDB_PASSWORD=kept-value\n")
    ensure_env_file()
    assert (project / ".env.custom").read_text() == "DB_PORT=6000\nDB_PASSWORD=kept-value\n"
    assert not (project / ".env.staging").exists()


def test_a_missing_env_file_is_created_where_the_spec_says(project: Path) -> None:
    ensure_env_file()
    created = (project / ".env.custom").read_text()
    assert "DB_PORT=5433" in created and "change-me-db" not in created
    assert not (project / ".env.staging").exists()
