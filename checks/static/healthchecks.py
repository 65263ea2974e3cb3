"""Section `healthchecks`: every service tells compose when it is healthy, the way the spec says."""

from __future__ import annotations

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
