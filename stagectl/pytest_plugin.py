"""A pytest plugin (entry point `pytest11: stagectl`): the staging stack as a session fixture, the
way testcontainers users get a database — for a team's own tests against staging.

    def test_orders(stagectl_stack):
        url = stagectl_stack.url("dashboard", "/health")
        key = stagectl_stack.env["DASHBOARD_API_KEY"]

The fixture attaches to a stack that is already up and healthy (and leaves it running), or brings
one up (waiting for health like `stagectl up`) and tears it down at the end of the session (data
kept, as `stagectl down`). Options: `--stagectl-dir DIR` (the project; default: found upwards
from pytest's rootdir), `--stagectl-env-file F`, `--stagectl-set KEY=VALUE` (repeatable),
`--stagectl-keep` (leave a stack it started running), `--stagectl-wait S`. Nothing happens unless a
test asks for the fixture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest


@dataclasses.dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class StagingStack:
    """What the fixture yields: the running services' endpoints and the stack's resolved variables
    (credentials included: `env["POSTGRES_PASSWORD"]`, `env["DASHBOARD_API_KEY"]`, …)."""

    project_dir: Path
    endpoints: Mapping[str, Endpoint]
    env: Mapping[str, str] = dataclasses.field(repr=False)  # secrets: never in a failure's repr
    attached: bool = False  # True: it was already up and is left running

    def url(self, service: str, path: str = "") -> str:
        return self.endpoints[service].url + path

    def postgres_dsn(self, service: str = "postgres") -> str:
        e, env = self.endpoints[service], self.env
        return (f"postgresql://{env.get('POSTGRES_USER', 'postgres')}:{env.get('POSTGRES_PASSWORD', '')}"
                f"@{e.host}:{e.port}/{env.get('POSTGRES_DB', env.get('POSTGRES_USER', 'postgres'))}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stagectl", "the staging stack (stagectl_stack fixture)")
    group.addoption("--stagectl-dir", default=None, help="stagectl project directory (default: search upwards from rootdir)")
    group.addoption("--stagectl-env-file", default=None, help="env file instead of the spec's env_file")
    group.addoption("--stagectl-set", action="append", default=[], metavar="KEY=VALUE", help="override a variable")
    group.addoption("--stagectl-keep", action="store_true", help="leave a stack the fixture started running")
    group.addoption("--stagectl-wait", type=float, default=180.0, help="seconds the stack may take to become healthy")


def _is_up(rows) -> bool:
    running = [r for r in rows if r.state != "skipped"]
    return bool(running) and all(r.healthy for r in running)


@pytest.fixture(scope="session")
def stagectl_stack(request: pytest.FixtureRequest) -> Iterator[StagingStack]:
    from stagectl.config.loader import load_project
    from stagectl.errors import StagectlError
    from stagectl.stack import backend_for, bring_up, forget_backend, remember_backend

    option = request.config.getoption
    root = Path(option("--stagectl-dir") or request.config.rootpath)
    sets = dict(item.split("=", 1) for item in option("--stagectl-set"))
    env_file = option("--stagectl-env-file")
    try:
        project = load_project(root, env_file=Path(env_file) if env_file else None, overrides=sets)
        backend = backend_for(None, project)
        attached = _is_up(backend.status())
        if not attached:
            bring_up(backend, option("--stagectl-wait"))
            remember_backend(backend)
    except StagectlError as exc:  # a clear failure of the fixture, never a skip
        pytest.fail(f"stagectl: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), pytrace=False)
    rows = backend.status()
    endpoints = {r.name: Endpoint("127.0.0.1", r.port) for r in rows if r.healthy}
    try:
        yield StagingStack(project.root, endpoints, dict(project.env), attached=attached)
    finally:
        if not attached and not option("--stagectl-keep"):
            backend.down()
            forget_backend(backend)
