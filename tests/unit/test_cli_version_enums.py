"""`stagectl --version`, the version fields of every --json document, and fixed-value options as
enums (shell completion offers their values; a typo is a usage error, exit 2)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stagectl
from stagectl.output import JSON_SCHEMA_VERSION, versioned

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stagectl", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'dashboard'}", "NO_COLOR": "1", **env},
                          timeout=60)


def test_version_flag_prints_the_package_version():
    done = _cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"stagectl {stagectl.__version__}"
    assert stagectl.__version__ == importlib.metadata.version("stagectl")  # one source of truth


def test_json_documents_carry_the_versions():
    done = _cli("render", "--check", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert list(doc)[:2] == ["stagectl_version", "schema_version"]
    assert doc["stagectl_version"] == stagectl.__version__ and doc["schema_version"] == JSON_SCHEMA_VERSION
    assert len(doc) > 2  # and the document itself
    assert versioned([1, 2])["items"] == [1, 2]  # a list is wrapped, not lost
    assert versioned({"schema_version": "theirs", "x": 1})["schema_version"] == JSON_SCHEMA_VERSION


@pytest.mark.parametrize(("args", "choices"), [
    (["run", "--chaos", "sometimes"], "'quick', 'matrix', 'off'"),
    (["run", "--teardown", "later"], "'always', 'on-success', 'never'"),
    (["chaos", "--down-fault", "melt"], "'stop', 'freeze'"),
    (["status", "--backend", "k8s"], "'auto', 'local', 'compose'"),
    (["render", "--target", "helm"], "'compose', 'kubernetes', 'all'"),
])
def test_fixed_value_options_are_enums(args, choices):
    done = _cli(*args)
    assert done.returncode == 2
    assert choices in done.stderr


def test_completion_offers_the_enum_values():
    env = {"_STAGECTL_COMPLETE": "complete_bash", "COMP_WORDS": "stagectl run --chaos ", "COMP_CWORD": "3"}
    done = subprocess.run([sys.executable, "-c", "from stagectl.cli import app; app(prog_name='stagectl')"],
                          capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'dashboard'}", **env})
    assert set(done.stdout.split()) >= {"quick", "matrix", "off"}, done.stdout + done.stderr
