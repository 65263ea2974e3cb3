"""Static checks of dashboard/Dockerfile (no engine here to build it): non-root, a health check
that uses a tool the image has, ports and commands that match the stack spec and the package."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = ROOT / "dashboard"
# Tools a python:*-slim image ships; curl and wget are not among them.
IMAGE_TOOLS = {"python", "python3", "pip", "sh", "uvicorn"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (CONTEXT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """The argv of an exec-form CMD/HEALTHCHECK CMD (a JSON array); shell form is rejected."""
    assert args.startswith("["), f"use the exec form (JSON array) so signals reach the process: {args}"
    return json.loads(args)


def dashboard_specs() -> dict[str, dict]:
    raw = yaml.safe_load((ROOT / "stagectl.yaml").read_text())
    return {n: s for n, s in raw["services"].items() if s.get("build") == "dashboard"}


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions()


def only(dockerfile, word: str) -> str:
    found = [args for w, args in dockerfile if w == word]
    assert len(found) == 1, f"expected one {word}, found {found}"
    return found[0]


def test_base_image_is_python_311_slim(dockerfile):
    """The default base (the ARG's default when FROM names it); stagectl's local builder overrides it."""
    base = only(dockerfile, "FROM")
    defaults = dict(args.partition("=")[::2] for w, args in dockerfile if w == "ARG" and "=" in args)
    if base.startswith("${") and base.endswith("}"):
        base = defaults[base[2:-1]]
    assert base == "python:3.11-slim"


def test_runs_as_a_created_non_root_user(dockerfile):
    words = [w for w, _ in dockerfile]
    user = only(dockerfile, "USER")
    uid = user.split(":")[0]
    assert uid not in ("root", "0", ""), user
    assert words.index("USER") < words.index("CMD"), "USER must come before CMD"
    runs = " ".join(args for w, args in dockerfile if w == "RUN")
    assert re.search(rf"useradd\b.*--uid {uid}\b", runs), f"uid {uid} is never created"


def test_healthcheck_uses_a_tool_the_image_has_and_the_served_port(dockerfile):
    health = only(dockerfile, "HEALTHCHECK")
    argv = exec_form(health.split(" CMD ", 1)[1].strip())
    assert argv[0] in IMAGE_TOOLS, f"{argv[0]} is not in a python slim image"
    runs = " ".join(args for w, args in dockerfile if w == "RUN")
    assert not re.search(r"\b(curl|wget)\b", health + runs)
    cmd = exec_form(only(dockerfile, "CMD"))
    port = cmd[cmd.index("--port") + 1]
    spec = dashboard_specs()["dashboard"]
    assert f"http://127.0.0.1:{port}{spec['healthcheck']['path']}" in argv[-1]
    assert int(port) == spec["container_port"]


def test_expose_matches_the_services_built_from_this_context(dockerfile):
    exposed = {int(p.split("/")[0]) for p in only(dockerfile, "EXPOSE").split()}
    assert exposed == {s["container_port"] for s in dashboard_specs().values()}


def test_cmd_names_a_factory_the_package_defines(dockerfile):
    cmd = exec_form(only(dockerfile, "CMD"))
    module, _, attr = cmd[1].partition(":")
    source = CONTEXT / (module.replace(".", "/") + ".py")
    assert source.is_file(), source
    assert re.search(rf"^def {attr}\(", source.read_text(), re.M), f"{attr} not defined in {source}"
    assert "--factory" in cmd, "create_app is a factory"


def test_copied_sources_exist_and_are_not_ignored(dockerfile):
    ignored = [p.strip().rstrip("/") for p in (CONTEXT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    for args in (a for w, a in dockerfile if w == "COPY"):
        for src in shlex.split(args)[:-1]:
            assert (CONTEXT / src).exists(), src
            assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), f"{src} is excluded by .dockerignore"


def test_dockerignore_keeps_env_files_and_tests_out(dockerfile):
    patterns = (CONTEXT / ".dockerignore").read_text().splitlines()
    for name in (".env", ".env.staging", "tests/x.py"):
        assert any(fnmatch.fnmatch(name, p.rstrip("/") + ("*" if p.endswith("/") else "")) for p in patterns), name
