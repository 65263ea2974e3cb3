"""Section `security`: no example or hard-coded secrets, secrets not rendered, HTTP hardening on."""

from __future__ import annotations

import re

from checks.static._util import TRUE_FALSE, as_int, env_mapping, url_host_port, volume_mounts
from stagectl.checking import COMPOSE_ENV, CheckContext, check, skipped, verdict
from stagectl.secrets import is_secret_name

SECTION = "security"
MIN_SECRET_LENGTH = 16
_INTERPOLATED = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


def _secret_vars(ctx: CheckContext) -> list[str]:
    return [n for n in ctx.env_example.values if is_secret_name(n)]


def _scanned_files(ctx: CheckContext):
    """Compose dir and templates: every committed file a secret could leak into."""
    for folder in (ctx.render_dir, ctx.root / "templates"):
        if folder.is_dir():
            yield from (p for p in sorted(folder.rglob("*")) if p.is_file())


@check("security.user_secrets_changed", SECTION, "Your .env.staging sets every SECRET to something other than the example value.", catches="staging running with the published example passwords/keys")
def user_secrets_changed(ctx: CheckContext):
    user = ctx.user_env
    if user is None:
        return skipped(f"{ctx.rel(ctx.user_env_path)} does not exist (run `stagectl init` to generate secrets)")
    example = ctx.env_example.values
    problems = [
        (f"{name} is empty or still the example value", user.loc(name))
        for name in _secret_vars(ctx)
        if not user.values.get(name) or user.values.get(name) == example.get(name)
    ]
    return verdict(problems, "all secrets changed from the example", hint="run `stagectl init --force-secrets` or edit .env.staging")


@check("security.user_secret_strength", SECTION, f"Every SECRET in your .env.staging has at least {MIN_SECRET_LENGTH} characters.", catches="guessable passwords on a reachable staging box")
def user_secret_strength(ctx: CheckContext):
    user = ctx.user_env
    if user is None:
        return skipped(f"{ctx.rel(ctx.user_env_path)} does not exist")
    problems = [
        (f"{name} is shorter than {MIN_SECRET_LENGTH} characters", user.loc(name))
        for name in _secret_vars(ctx)
        if len(user.values.get(name, "")) < MIN_SECRET_LENGTH
    ]
    return verdict(problems, "secrets are long enough")


# Every backend hands REDIS_PASSWORD to Redis inside a config file as `requirepass "<value>"`
# (Redis's own quoting): a double quote or backslash would end or escape the string, and a
# control character (a newline) would start another directive.
_REDIS_CONF_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


@check("security.redis_password_quotable", SECTION, "REDIS_PASSWORD has no double quote, backslash or control character (it is written into Redis's config file).", catches="a password that breaks, or injects a directive into, the generated redis.conf")
def redis_password_quotable(ctx: CheckContext):
    value = ctx.env.get("REDIS_PASSWORD", "")
    if not _REDIS_CONF_UNSAFE.search(value):
        return verdict([], "REDIS_PASSWORD can be written into redis.conf as is")
    where = ctx.user_env.loc("REDIS_PASSWORD") if ctx.user_env is not None and "REDIS_PASSWORD" in ctx.user_env.values else None
    return verdict([("REDIS_PASSWORD contains a double quote, a backslash or a control character", where)],
                   "", hint="choose one without them (`stagectl init --force-secrets` generates a safe one)")


@check("security.hsts", SECTION, "HSTS is on with max-age ≥ 1 year.", catches="browsers allowed to downgrade to plain HTTP")
def hsts(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    if ctx.env.get("DASHBOARD_ENABLE_HSTS") != "true":
        problems.append((f"DASHBOARD_ENABLE_HSTS={ctx.env.get('DASHBOARD_ENABLE_HSTS')!r}", doc.loc("DASHBOARD_ENABLE_HSTS")))
    if (as_int(ctx.env.get("DASHBOARD_HSTS_MAX_AGE")) or 0) < 31536000:
        problems.append((f"DASHBOARD_HSTS_MAX_AGE={ctx.env.get('DASHBOARD_HSTS_MAX_AGE')!r} < 31536000", doc.loc("DASHBOARD_HSTS_MAX_AGE")))
    return verdict(problems, "HSTS on")


@check("security.rate_limit", SECTION, "Rate limiting is on with 1–10000 requests per 1–3600 s window.", catches="the API open to brute force, or a limit so low the smoke tests trip it")
def rate_limit(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    requests, window = as_int(ctx.env.get("DASHBOARD_RATELIMIT_REQUESTS")), as_int(ctx.env.get("DASHBOARD_RATELIMIT_WINDOW"))
    if ctx.env.get("DASHBOARD_RATELIMIT_ENABLED") != "true":
        problems.append(("DASHBOARD_RATELIMIT_ENABLED is not true", doc.loc("DASHBOARD_RATELIMIT_ENABLED")))
    if requests is None or not 1 <= requests <= 10000:
        problems.append((f"DASHBOARD_RATELIMIT_REQUESTS={ctx.env.get('DASHBOARD_RATELIMIT_REQUESTS')!r}", doc.loc("DASHBOARD_RATELIMIT_REQUESTS")))
    if window is None or not 1 <= window <= 3600:
        problems.append((f"DASHBOARD_RATELIMIT_WINDOW={ctx.env.get('DASHBOARD_RATELIMIT_WINDOW')!r}", doc.loc("DASHBOARD_RATELIMIT_WINDOW")))
    return verdict(problems, f"{requests} requests per {window}s")


@check("security.csp", SECTION, "DASHBOARD_CSP sets default-src and frame-ancestors 'none'.", catches="the API embeddable in frames (clickjacking) or loading arbitrary content")
def csp(ctx: CheckContext):
    value = ctx.env.get("DASHBOARD_CSP", "")
    ok = "default-src" in value and re.search(r"frame-ancestors\s+'none'", value)
    return verdict([] if ok else [(f"DASHBOARD_CSP={value!r}", ctx.env_example.loc("DASHBOARD_CSP"))], "CSP restrictive")


@check("security.cors_not_wildcard", SECTION, "No CORS origin list contains `*`.", catches="any web page calling the API or the bucket with a user's credentials")
def cors_not_wildcard(ctx: CheckContext):
    names = [n for n in ctx.env_example.values if n.endswith("CORS_ORIGINS")]
    problems = [(f"{n} contains *", ctx.env_example.loc(n)) for n in names if "*" in ctx.env.get(n, "")]
    return verdict(problems, f"{len(names)} CORS lists without wildcards")


@check("security.grafana_anonymous_off", SECTION, "GRAFANA_ANONYMOUS_ENABLED is false.", catches="metrics dashboards readable without login")
def grafana_anonymous_off(ctx: CheckContext):
    value = ctx.env.get("GRAFANA_ANONYMOUS_ENABLED")
    return verdict([] if value == "false" else [(f"GRAFANA_ANONYMOUS_ENABLED={value!r}", ctx.env_example.loc("GRAFANA_ANONYMOUS_ENABLED"))], "anonymous Grafana off")


@check("security.s3_endpoint_local", SECTION, "S3_ENDPOINT_URL points at the local stand-in, never AWS.", catches="staging data written to a real AWS account")
def s3_endpoint_local(ctx: CheckContext):
    host, _ = url_host_port(ctx.env.get("S3_ENDPOINT_URL", ""))
    local = host in ("127.0.0.1", "localhost", "::1") or host in ctx.stack.services
    return verdict([] if local else [(f"S3_ENDPOINT_URL host {host!r} is not local", ctx.env_example.loc("S3_ENDPOINT_URL"))], f"S3 endpoint {host}")


@check("security.secrets_interpolated", SECTION, "In the compose file every secret-named environment value is a ${VAR} reference.", catches="a password or key hard-coded into the committed compose file")
def secrets_interpolated(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, svc in ctx.compose_services().items():
        for key, value in env_mapping(svc).items():
            if is_secret_name(key) and not _INTERPOLATED.match(value.strip()):
                problems.append((f"{name}: {key} is not a ${{VAR}} reference", doc.loc("services", name, "environment", key)))
    return verdict(problems, "secret environment values interpolated")


@check("security.api_key_not_hardcoded", SECTION, "The dashboard API key (current or example value) appears nowhere in compose/ or templates/.", catches="the API key committed in a rendered file or template")
def api_key_not_hardcoded(ctx: CheckContext):
    values = {v for v in (ctx.env.get("DASHBOARD_API_KEY"), ctx.env_example.values.get("DASHBOARD_API_KEY")) if v and len(v) >= 8}
    problems = []
    for path in _scanned_files(ctx):
        if path.name.startswith(".env"):
            continue  # env files are judged by security.no_secrets_rendered
        text = ctx.text(path)
        if any(v in text for v in values):
            problems.append((f"{ctx.rel(path)} contains the API key", ctx.rel(path)))
    prom_auth = [j.get("authorization") or {} for j in (ctx.prometheus.data or {}).get("scrape_configs") or []]
    if any(a.get("credentials") and not str(a["credentials"]).startswith("$") for a in prom_auth):
        problems.append(("prometheus authorization uses literal credentials (use credentials_file)", ctx.prometheus.loc("scrape_configs")))
    return verdict(problems, "API key not hard-coded")


@check("security.no_secrets_rendered", SECTION, "Rendered files hold no real secret: compose/.env.staging has only example placeholders, and no value from your .env.staging appears under compose/.", catches="real passwords committed with the rendered output")
def no_secrets_rendered(ctx: CheckContext):
    example, problems = ctx.env_example.values, []
    rendered_env = ctx.envfile(ctx.rendered(COMPOSE_ENV))
    for name in _secret_vars(ctx):
        value = rendered_env.values.get(name, "")
        if value not in ("", example.get(name)):
            problems.append((f"{name} in {rendered_env.rel} holds a real value", rendered_env.loc(name)))
    user = ctx.user_env
    secrets = [user.values[n] for n in _secret_vars(ctx) if user and len(user.values.get(n, "")) >= 8 and user.values[n] != example.get(n)]
    for path in _scanned_files(ctx):
        text = ctx.text(path)
        problems += [(f"{ctx.rel(path)} contains a secret from {user.rel}", ctx.rel(path)) for s in secrets if s in text][:1]
    return verdict(problems, "no secrets in rendered files")


@check("security.no_privileged", SECTION, "No privileged containers, docker.sock mounts or added capabilities.", catches="a staging container able to take over the host")
def no_privileged(ctx: CheckContext):
    doc, problems = ctx.compose, []
    for name, svc in ctx.compose_services().items():
        if svc.get("privileged") or svc.get("cap_add"):
            problems.append((f"{name} is privileged or adds capabilities", doc.loc("services", name)))
        if any("docker.sock" in str(m["source"]) for m in volume_mounts(svc)):
            problems.append((f"{name} mounts the Docker socket", doc.loc("services", name, "volumes")))
    return verdict(problems, "no privileged containers")


@check("security.flags_boolean", SECTION, "Security switches (HSTS, rate limit, anonymous Grafana, METRICS_ENABLED) are true/false literals.", catches="a switch read as false by one component and true by another")
def flags_boolean(ctx: CheckContext):
    names = ("DASHBOARD_ENABLE_HSTS", "DASHBOARD_RATELIMIT_ENABLED", "GRAFANA_ANONYMOUS_ENABLED", "METRICS_ENABLED")
    problems = [(f"{n}={ctx.env.get(n)!r}", ctx.env_example.loc(n)) for n in names if ctx.env.get(n) not in TRUE_FALSE]
    return verdict(problems, "security switches are booleans")
