"""Every backend's methods take the parameters the Backend Protocol declares (by name and kind),
so a call written against one backend cannot die with a TypeError on another (as `up(...,
on_progress=...)` once did on the compose backend)."""

from __future__ import annotations

import inspect

import pytest

from stagectl.backends.base import Backend
from stagectl.backends.compose import ComposeBackend
from stagectl.backends.local.backend import LocalBackend

METHODS = ["preflight", "up", "status", "logs", "signal", "start", "down"]


def params(fn) -> list[tuple[str, inspect._ParameterKind]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("backend", [LocalBackend, ComposeBackend], ids=lambda b: b.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_backend_method_matches_the_protocol(backend, method):
    """Every Protocol parameter, same name and kind; extra ones only with a default."""
    have = dict(params(getattr(backend, method)))
    want = dict(params(getattr(Backend, method)))
    assert {n: have.get(n) for n in want} == want
    extra = inspect.signature(getattr(backend, method)).parameters
    assert all(extra[n].default is not inspect.Parameter.empty for n in have if n not in want)
