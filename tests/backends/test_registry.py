"""The backend registry: explicit names, 'auto' (engine or not), lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakedocker import FAKE_DOCKER, FakeDocker
from test_compose_offline import ENGINE

from stagectl.backends import BACKENDS, resolve_backend_name, select_backend
from stagectl.backends.base import Backend
from stagectl.backends.compose import ComposeBackend
from stagectl.errors import ConfigError


@pytest.fixture
def fake(tmp_path, monkeypatch) -> FakeDocker:
    return FakeDocker(tmp_path, monkeypatch)


def test_registry_names_both_backends():
    assert set(BACKENDS) == {"local", "compose"}


@pytest.mark.parametrize("name", ["local", "compose"])
def test_select_backend_builds_the_named_backend(fake, name):
    backend = select_backend(name, fake.ctx)
    assert isinstance(backend, Backend) and backend.name == name


def test_unknown_backend_is_a_usage_error(fake):
    with pytest.raises(ConfigError, match="unknown backend 'kubernetes'"):
        select_backend("kubernetes", fake.ctx)


FAKE_CLIENT = (sys.executable, "-S", str(FAKE_DOCKER))


def test_auto_picks_compose_when_an_engine_answers(fake):
    fake.script()
    assert resolve_backend_name("auto", docker=FAKE_CLIENT) == ("compose", "a Docker engine with Compose v2 answers")


def test_auto_picks_local_when_the_docker_client_cannot_run(fake):
    name, why = resolve_backend_name("auto", docker=("no-such-docker-binary-here",))
    assert (name, why) == ("local", "compose backend unavailable: docker CLI not found on PATH")


def test_auto_picks_local_when_the_engine_refuses(fake):
    refused = {"stderr": "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?", "rc": 1}
    fake.script(rules=[{"match": ["version"], "responses": [refused]}])
    assert resolve_backend_name("auto", docker=FAKE_CLIENT) == ("local", "compose backend unavailable: no Docker engine answers")


@pytest.mark.skipif(ENGINE, reason="a Docker engine answers here; this is about machines without one")
def test_auto_on_this_machine_is_local(fake):
    assert resolve_backend_name("auto")[0] == "local"
    assert not isinstance(select_backend("auto", fake.ctx), ComposeBackend)


def test_importing_the_registry_imports_no_backend():
    code = "import sys, stagectl.backends; print(sorted(m for m in sys.modules if m.startswith('stagectl.backends.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "['stagectl.backends.base']"
