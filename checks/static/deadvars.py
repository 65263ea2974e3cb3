"""Section `deadvars`: every variable of the env interface is read by something (docs/contract.md §2).

A variable counts as read when its name appears in templates/, compose/ (env files excluded —
defining a variable is not reading it), stagectl.yaml, stagectl's own code, or the dashboard
package (where a pydantic-settings field is the lower-cased name — unless the field declares an
alias: then only the alias is read, and the field's own name is not).
"""

from __future__ import annotations

import re
from pathlib import Path

from checks.static._aliases import aliased_fields
from stagectl.checking import CheckContext, check, failed, passed

SECTION = "deadvars"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".j2", ".jinja", ".sh", ".json", ".toml", ".conf", ".ini", ".txt", ".cfg", ".tmpl", ""}


def _readers(ctx: CheckContext) -> list[Path]:
    files: list[Path] = [ctx.project.spec_path]
    for folder in (ctx.root / "templates", ctx.render_dir):
        if folder.is_dir():
            files += [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".env") and p.suffix in TEXT_SUFFIXES]
    files += sorted((ctx.root / "stagectl").rglob("*.py"))
    return files


def read_names(ctx: CheckContext) -> dict[str, str]:
    """Every identifier some reader mentions → the first file mentioning it."""
    seen: dict[str, str] = {}
    for path in _readers(ctx):
        rel = ctx.rel(path)
        for word in set(_WORD.findall(ctx.text(path))):
            seen.setdefault(word, rel)
    sources = ctx.dashboard_sources()
    aliased = aliased_fields(sources)
    hidden = {a.field for a in aliased}  # pydantic reads these fields only under their aliases
    for a in aliased:
        for name in a.names:
            seen.setdefault(name.upper(), ctx.rel(a.path))
    for path, text in sources.items():
        rel = ctx.rel(path)
        for word in set(_WORD.findall(text)) - hidden:
            seen.setdefault(word.upper() if word.islower() else word, rel)
    return seen


@check("deadvars.unread", SECTION, "Every variable in the env example is read by templates, compose, stagectl.yaml, stagectl or the dashboard.", catches="a knob that changes nothing (an example full of variables nothing reads)")
def unread(ctx: CheckContext):
    doc, seen = ctx.env_example, read_names(ctx)
    results = [
        failed(f"{e.name} is read by nothing", location=f"{doc.rel}:{e.line}", item=e.name,
               hint=f"read {e.name} (compose interpolation, a dashboard settings field `{e.name.lower()}`, or stagectl) or delete it from {doc.rel}")
        for e in doc.entries
        if e.name not in seen
    ]
    return results or [passed(f"all {len(doc.entries)} variables are read")]


@check("deadvars.dashboard_env_read", SECTION, "Every variable compose passes into the dashboard container is read by the dashboard package.", catches="a setting handed to the API that the API ignores (counted as read by compose, changes nothing)")
def dashboard_env_read(ctx: CheckContext):
    from checks.static._util import env_mapping

    words: set[str] = set()
    for text in ctx.dashboard_sources().values():
        words.update(_WORD.findall(text))
    doc = ctx.compose
    passed_in = env_mapping(ctx.compose_services().get("dashboard", {}))
    results = [
        failed(f"{name} is passed to the dashboard but the dashboard never reads it", location=doc.loc("services", "dashboard", "environment", name), item=name,
               hint=f"add a `{name.lower()}` settings field to the dashboard or stop passing {name}")
        for name in sorted(passed_in)
        if name not in words and name.lower() not in words
    ]
    return results or [passed(f"all {len(passed_in)} variables passed to the dashboard are read by it")]


@check("deadvars.aliases_known", SECTION, "Every pydantic alias (`alias`, `validation_alias`, `AliasChoices`) in the dashboard names a variable of the env example.", catches="a setting read under a misspelt alias: the configured variable is silently ignored and the field keeps its default")
def aliases_known(ctx: CheckContext):
    doc = ctx.env_example
    known = {e.name.upper() for e in doc.entries}
    aliased = aliased_fields(ctx.dashboard_sources())
    results = [
        failed(f"{a.field} is read under {name!r}, which the env example does not define", location=f"{ctx.rel(a.path)}:{a.line}",
               item=f"{a.field}:{name}", hint=f"correct the alias to a variable of {doc.rel} or add {name.upper()} there")
        for a in aliased for name in a.names
        if name.upper() not in known
    ]
    return results or [passed(f"{len(aliased)} aliased settings fields, every alias a known variable")]
