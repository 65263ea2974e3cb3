"""Session-wide settings for stagectl's own tests."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from stagectl.backends.local.datahome import SYSTEM_ROOT_VAR
from stagectl.loopback import FORWARDED_FOR_ENV


@pytest.fixture(scope="session", autouse=True)
def system_data_root():
    """As root, PostgreSQL's clusters live under /var/lib/stagectl (see datahome): the many throwaway
    projects of a test session put theirs in one traversable temporary directory, removed at the end."""
    if os.environ.get(SYSTEM_ROOT_VAR):
        yield os.environ[SYSTEM_ROOT_VAR]
        return
    root = tempfile.mkdtemp(prefix="stagectl-sysdata-")
    os.chmod(root, 0o755)
    os.environ[SYSTEM_ROOT_VAR] = root
    try:
        yield root
    finally:
        os.environ.pop(SYSTEM_ROOT_VAR, None)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def clients_do_not_name_their_source(monkeypatch):
    """A test that chose the compose backend in-process (stagectl.stack.backend_for) switches on
    X-Forwarded-For for this process; the next test starts without it, as a fresh CLI does."""
    monkeypatch.delenv(FORWARDED_FOR_ENV, raising=False)

