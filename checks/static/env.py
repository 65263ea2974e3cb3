"""Section `env`: the env interface is documented, unique, complete, and its values are well-formed."""

from __future__ import annotations

import re

from checks.static._util import TRUE_FALSE, url_host_port
from stagectl.checking import CheckContext, check, skipped, verdict
from stagectl.secrets import is_secret_name

SECTION = "env"
# ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:?x}, ${VAR?x} and $VAR, but not $$-escaped ones.
_REFERENCE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def references(text: str) -> list[tuple[str, bool, int]]:
    """(name, has_default, line) of every interpolation in `text`; `$$` escapes are skipped."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        for match in _REFERENCE.finditer(line.replace("$$", "")):
            name = match.group(1) or match.group(3)
            out.append((name, bool(match.group(2)) and match.group(2).lstrip(":")[0] == "-", number))
    return out


@check("env.example_commented", SECTION, "Every variable in the example has a comment (inline, or its block starts with one).", catches="an undocumented knob nobody knows how to set")
def example_commented(ctx: CheckContext):
    doc = ctx.env_example
    problems = [(f"{e.name} has no comment", f"{doc.rel}:{e.line}") for e in doc.entries if not e.commented]
    return verdict(problems, f"all {len(doc.entries)} variables documented")


@check("env.no_duplicates", SECTION, "No variable is defined twice in the example.", catches="the second definition silently winning")
def no_duplicates(ctx: CheckContext):
    doc, seen, problems = ctx.env_example, {}, []
    for e in doc.entries:
        if e.name in seen:
            problems.append((f"{e.name} defined on lines {seen[e.name]} and {e.line}", f"{doc.rel}:{e.line}"))
        seen.setdefault(e.name, e.line)
    return verdict(problems, "no duplicate variables")


@check("env.compose_vars_defined", SECTION, "Every ${VAR} the compose file uses without a default is defined in the example.", catches="compose interpolating an empty string (or failing on :?) for an unknown variable")
def compose_vars_defined(ctx: CheckContext):
    doc, known = ctx.compose, ctx.env_example.values
    problems = [
        (f"${{{name}}} is not defined in {ctx.env_example.rel}", f"{doc.rel}:{line}")
        for name, has_default, line in references(doc.path.read_text(encoding="utf-8"))
        if name not in known and not has_default
    ]
    return verdict(problems, "every compose variable is defined")


@check("env.spec_vars_defined", SECTION, "Every ${VAR} in stagectl.yaml is defined in the example.", catches="a spec value silently falling back to its default because of a typo")
def spec_vars_defined(ctx: CheckContext):
    known = ctx.env_example.values
    text = ctx.project.spec_path.read_text(encoding="utf-8")
    rel = ctx.rel(ctx.project.spec_path)
    problems = [(f"${{{n}}} is not defined in {ctx.env_example.rel}", f"{rel}:{line}") for n, _, line in references(text) if n not in known]
    return verdict(problems, "every spec variable is defined")


@check("env.compose_env_known", SECTION, "The rendered compose env defines only variables of the example, and all of them.", catches="a render from a stale or foreign env file")
def compose_env_known(ctx: CheckContext):
    from stagectl.checking import COMPOSE_ENV

    rendered, example = ctx.envfile(ctx.rendered(COMPOSE_ENV)), ctx.env_example.values
    problems = [(f"{e.name} is not in the example", f"{rendered.rel}:{e.line}") for e in rendered.entries if e.name not in example]
    problems += [(f"{name} is missing", rendered.rel) for name in example if name not in rendered.values]
    return verdict(problems, f"{len(rendered.entries)} variables, same set as the example")


@check("env.user_env_complete", SECTION, "Your .env.staging defines every variable of the example and no unknown one.", catches="a variable added to the interface but not to the deployed env (or a typo in its name)")
def user_env_complete(ctx: CheckContext):
    user = ctx.user_env
    if user is None:
        return skipped(f"{ctx.rel(ctx.user_env_path)} does not exist (run `stagectl init`); the example is used")
    example = ctx.env_example.values
    problems = [(f"{n} is missing", user.rel) for n in example if n not in user.values]
    problems += [(f"{e.name} is not in the example", f"{user.rel}:{e.line}") for e in user.entries if e.name not in example]
    return verdict(problems, f"{user.rel} matches the interface")


@check("env.secrets_marked", SECTION, "Every secret-named variable is marked `# SECRET` in the example.", catches="a secret `stagectl init` does not generate and validate does not guard")
def secrets_marked(ctx: CheckContext):
    doc = ctx.env_example
    problems = [(f"{e.name} looks secret but is not marked # SECRET", f"{doc.rel}:{e.line}") for e in doc.entries if is_secret_name(e.name) and not e.marked_secret]
    return verdict(problems, "secrets marked")


@check("env.booleans", SECTION, "Variables whose example is true/false hold true/false in the effective env.", catches="`yes`/`1`/`TRUE ` parsed differently by compose, pydantic and shell")
def booleans(ctx: CheckContext):
    doc = ctx.env_example
    problems = [
        (f"{e.name}={ctx.env.get(e.name)!r} is not true/false", doc.loc(e.name))
        for e in doc.entries
        if e.value in TRUE_FALSE and ctx.env.get(e.name) not in TRUE_FALSE
    ]
    return verdict(problems, "boolean variables are true/false")


@check("env.integers", SECTION, "Variables whose example is an integer hold an integer in the effective env.", catches="a timeout or pool size set to `30s` or `ten`")
def integers(ctx: CheckContext):
    doc = ctx.env_example
    problems = [
        (f"{e.name}={ctx.env.get(e.name)!r} is not an integer", doc.loc(e.name))
        for e in doc.entries
        if e.value.isdigit() and not str(ctx.env.get(e.name, "")).isdigit()
    ]
    return verdict(problems, "integer variables are integers")


@check("env.urls", SECTION, "Every *_URL variable is an http(s) URL with a host.", catches="a dashboard client pointed at a malformed endpoint")
def urls(ctx: CheckContext):
    doc = ctx.env_example
    problems = []
    for name in (n for n in doc.values if n.endswith("_URL")):
        value = ctx.env.get(name, "")
        host, _ = url_host_port(value)
        if not value.startswith(("http://", "https://")) or not host:
            problems.append((f"{name}={value!r} is not an http(s) URL", doc.loc(name)))
    return verdict(problems, "URL variables are URLs")


@check("env.logging", SECTION, "LOG_LEVEL is a level name and LOG_FORMAT is json or text.", catches="the dashboard crashing at start on an unknown log level")
def logging(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    if ctx.env.get("LOG_LEVEL", "").upper() not in LOG_LEVELS:
        problems.append((f"LOG_LEVEL={ctx.env.get('LOG_LEVEL')!r}", doc.loc("LOG_LEVEL")))
    if ctx.env.get("LOG_FORMAT") not in ("json", "text"):
        problems.append((f"LOG_FORMAT={ctx.env.get('LOG_FORMAT')!r}", doc.loc("LOG_FORMAT")))
    return verdict(problems, f"LOG_LEVEL={ctx.env.get('LOG_LEVEL')} LOG_FORMAT={ctx.env.get('LOG_FORMAT')}")


@check("env.staging_mode", SECTION, "ENVIRONMENT is staging and DEBUG is false.", catches="staging running in development mode (tracebacks to clients, key check off)")
def staging_mode(ctx: CheckContext):
    doc, problems = ctx.env_example, []
    if ctx.env.get("ENVIRONMENT") != "staging":
        problems.append((f"ENVIRONMENT={ctx.env.get('ENVIRONMENT')!r}", doc.loc("ENVIRONMENT")))
    if ctx.env.get("DEBUG") != "false":
        problems.append((f"DEBUG={ctx.env.get('DEBUG')!r}", doc.loc("DEBUG")))
    return verdict(problems, "ENVIRONMENT=staging, DEBUG=false")
