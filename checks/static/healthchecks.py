"""Section `healthchecks`: every service tells compose when it is healthy, the way the spec says."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from checks.static._image_tools import PROVIDES, repository
from checks.static._util import compose_duration, resolve
from stagectl.checking import CheckContext, check, verdict

SECTION = "healthchecks"
DURATION_FIELDS = ("interval", "timeout", "start_period")


def _healthchecks(ctx: CheckContext):
    for name, svc in ctx.compose_services().items():
        yield name, svc.get("healthcheck")


@check("healthchecks.present", SECTION, "Every service has an enabled healthcheck.", catches="depends_on: service_healthy waiting forever, or a dead service reported as up")
def present(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: {'healthcheck disabled' if hc else 'no healthcheck'}", doc.loc("services", name))
        for name, hc in _healthchecks(ctx)
        if not hc or hc.get("disable") is True
    ]
    return verdict(problems, "every service has a healthcheck")


@check("healthchecks.test_form", SECTION, "test is a string or a list starting with CMD / CMD-SHELL / NONE.", catches="a test compose cannot execute (e.g. a bare argv list)")
def test_form(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, hc in _healthchecks(ctx):
        test = (hc or {}).get("test")
        ok = (isinstance(test, str) and test.strip()) or (
            isinstance(test, list) and len(test) >= 2 and test[0] in ("CMD", "CMD-SHELL")
        )
        if hc and not ok:
            problems.append((f"{name}: test {test!r}", doc.loc("services", name, "healthcheck", "test")))
    return verdict(problems, "healthcheck tests are executable")


@check("healthchecks.durations_valid", SECTION, "interval, timeout and start_period are Compose durations.", catches="`interval: 10` (no unit) that compose rejects")
def durations_valid(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, hc in _healthchecks(ctx):
        for field in DURATION_FIELDS:
            if hc and field in hc and (isinstance(hc[field], (int, float)) or compose_duration(hc[field]) is None):
                problems.append((f"{name}.{field}: {hc[field]!r} is not a duration", doc.loc("services", name, "healthcheck", field)))
    return verdict(problems, "healthcheck durations are valid")


@check("healthchecks.timeout_lt_interval", SECTION, "timeout is shorter than interval.", catches="overlapping probes piling up on a slow service")
def timeout_lt_interval(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, hc in _healthchecks(ctx):
        interval, timeout = compose_duration((hc or {}).get("interval", "30s")), compose_duration((hc or {}).get("timeout", "30s"))
        if hc and interval is not None and timeout is not None and timeout >= interval:
            problems.append((f"{name}: timeout {hc.get('timeout')} ≥ interval {hc.get('interval')}", doc.loc("services", name, "healthcheck")))
    return verdict(problems, "timeouts shorter than intervals")


@check("healthchecks.retries_positive", SECTION, "retries is a positive integer.", catches="`retries: 0` marking a service unhealthy on its first slow probe")
def retries_positive(ctx: CheckContext):
    doc = ctx.compose
    problems = [
        (f"{name}: retries {hc.get('retries')!r}", doc.loc("services", name, "healthcheck", "retries"))
        for name, hc in _healthchecks(ctx)
        if hc and not (isinstance(hc.get("retries"), int) and not isinstance(hc.get("retries"), bool) and hc["retries"] >= 1)
    ]
    return verdict(problems, "retries are positive")


@check("healthchecks.match_spec", SECTION, "test, interval, timeout, retries and start_period equal stagectl.yaml (after `$$` escaping).", catches="compose and the local backend judging health differently, or a `$VAR` interpolated at render time instead of in the container")
def match_spec(ctx: CheckContext):
    doc, services, problems = ctx.compose, ctx.compose_services(), []
    for name, spec in ctx.stack.services.items():
        hc = services.get(name, {}).get("healthcheck")
        if not spec.enabled or not hc:
            continue
        want = spec.healthcheck
        if want.test is not None and [resolve(t, {}) for t in (hc.get("test") or [])] != list(want.test):
            problems.append((f"{name}: test differs from the spec", doc.loc("services", name, "healthcheck", "test")))
        for field in DURATION_FIELDS:
            if compose_duration(hc.get(field)) != getattr(want, field):
                problems.append((f"{name}.{field}: {hc.get(field)!r}, spec {getattr(want, field)}s", doc.loc("services", name, "healthcheck", field)))
        if hc.get("retries") != want.retries:
            problems.append((f"{name}.retries: {hc.get('retries')!r}, spec {want.retries}", doc.loc("services", name, "healthcheck", "retries")))
    return verdict(problems, "healthchecks match the spec")


LOCAL_IMAGES_FILE = "docker-compose.local-images.yml"
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def healthcheck_executables(test) -> list[str]:
    """The programs a healthcheck runs: CMD's first word; for CMD-SHELL (or a string) `sh` and the
    first word of each command of the shell line (pipes, `&&`, `||`, `;`)."""
    if isinstance(test, list) and test and test[0] == "CMD":
        return [str(test[1])] if len(test) > 1 else []
    if isinstance(test, list) and test and test[0] == "CMD-SHELL":
        line = " ".join(str(t) for t in test[1:])
    elif isinstance(test, str):
        line = test
    else:
        return []
    programs = ["sh"]
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        tokens = line.split()
    expect_command = True
    for token in tokens:
        if token in _SEPARATORS:
            expect_command = True
        elif expect_command and not _ASSIGNMENT.match(token) and token not in ("!", "exec"):
            programs.append(token)
            expect_command = False
    return programs


def _base_image(ctx: CheckContext, svc: dict) -> str | None:
    """A service built from a Dockerfile runs on its FROM (the ARG BASE_IMAGE default)."""
    build = svc.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context") if isinstance(build, dict) else None
    if not context:
        return None
    dockerfile = (ctx.render_dir / context / "Dockerfile").resolve()
    if not dockerfile.is_file():
        return None
    text = dockerfile.read_text(encoding="utf-8", errors="replace")
    default = re.search(r"^ARG BASE_IMAGE=(\S+)", text, re.M)
    base = re.search(r"^FROM (\S+)", text, re.M)
    image = base.group(1) if base else None
    return default.group(1) if image == "${BASE_IMAGE}" and default else image


def _runs(ctx: CheckContext):
    """(file, service, image, healthcheck test, where) for the staging file, and again for the
    local-images file merged over it where it exists (its image and any healthcheck it overrides)."""
    doc = ctx.compose
    services = ctx.compose_services()
    for name, svc in services.items():
        image = str(svc["image"]) if svc.get("image") and not svc.get("build") else _base_image(ctx, svc)
        yield doc, name, image, (svc.get("healthcheck") or {}).get("test"), ("services", name, "healthcheck", "test")
    local_path = ctx.render_dir / LOCAL_IMAGES_FILE
    if not local_path.is_file():
        return
    local = ctx.yaml(local_path)
    for name, over in ((local.data or {}).get("services") or {}).items():
        over = over or {}
        if name not in services or not over.get("image") or over.get("profiles"):
            continue
        hc = over.get("healthcheck") or services[name].get("healthcheck") or {}
        path = ("services", name, "healthcheck", "test") if over.get("healthcheck") else ("services", name, "image")
        yield local, name, str(over["image"]), hc.get("test"), path


@check("healthchecks.executables_in_image", SECTION, "Every program a healthcheck runs is one its image provides (a declared table per image; the local-images file too).", catches="a healthcheck calling `curl` in an image that only has `wget` (the local backend never runs `test:`; compose marks the service unhealthy forever)")
def executables_in_image(ctx: CheckContext):
    problems = []
    checked = 0
    for doc, name, image, test, path in _runs(ctx):
        if test is None or (isinstance(test, list) and test[:1] == ["NONE"]):
            continue
        if image is None:
            problems.append((f"{name}: no image or Dockerfile to tell what its healthcheck can run", doc.loc("services", name)))
            continue
        repo = repository(resolve(image, ctx.project.env))
        tools = PROVIDES.get(repo)
        if tools is None:
            problems.append((f"{name}: image {image!r} is not declared in checks/static/_image_tools.py PROVIDES", doc.loc("services", name)))
            continue
        checked += 1
        for program in healthcheck_executables(test):
            if program not in tools and Path(program).name not in tools:
                problems.append((f"{name}: healthcheck runs {program!r}, which {repo} does not provide (it has {', '.join(sorted(tools))})",
                                 doc.loc(*path)))
    return verdict(problems, f"{checked} healthchecks run only programs their images provide")
