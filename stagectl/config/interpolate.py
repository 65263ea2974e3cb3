"""Compose-style variable interpolation: ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e},
${VAR:+a}, ${VAR+a}, $VAR and $$ (a literal $). Defaults and alternatives may nest.

Hand-written (a small scanner) because no maintained Python library implements Compose's rules
(string.Template lacks the operators; python-dotenv only knows ${VAR:-d}) and we need errors that
name file:line and the key path without ever echoing the value (it may be a secret).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from stagectl.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)
_MAX_DEPTH = 16  # nested defaults deeper than this are a mistake, not a config


@dataclasses.dataclass
class Report:
    """What an interpolation read: every name referenced, and defaults used for unset names."""

    used: set[str] = dataclasses.field(default_factory=set)
    defaulted: dict[str, str] = dataclasses.field(default_factory=dict)
    unset: set[str] = dataclasses.field(default_factory=set)


def _fail(where: str, problem: str) -> ConfigError:
    prefix = f"{where}: " if where else ""
    return ConfigError(prefix + problem, hint="write $$ for a literal $; see `stagectl config --help`")


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the `}` closing a `${` whose body starts at `start` (nested `${…}` allowed)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def interpolate(
    text: str,
    env: Mapping[str, str],
    *,
    where: str = "",
    report: Report | None = None,
    _depth: int = 0,
) -> str:
    """Expand variables in `text` from `env`. Raises ConfigError naming `where`, never the value."""
    if _depth > _MAX_DEPTH:
        raise _fail(where, f"variable references nested more than {_MAX_DEPTH} deep")
    report = report if report is not None else Report()
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        nxt = text[j + 1 : j + 2]
        if nxt == "$":
            out.append("$")
            i = j + 2
        elif nxt == "{":
            end = _closing_brace(text, j + 2)
            if end is None:
                raise _fail(where, "unterminated ${ (missing closing })")
            out.append(_expand(text[j + 2 : end], env, where, report, _depth))
            i = end + 1
        elif match := _NAME.match(text, j + 1):
            name = match.group(0)
            report.used.add(name)
            if name not in env:
                report.unset.add(name)
            out.append(env.get(name, ""))
            i = match.end()
        else:
            raise _fail(where, "a '$' must start ${NAME} or $NAME")


def _expand(body: str, env: Mapping[str, str], where: str, report: Report, depth: int) -> str:
    match = _BRACED.fullmatch(body)
    if not match:
        raise _fail(where, "invalid variable reference: expected ${NAME}, ${NAME:-default}, ${NAME:?error} or ${NAME:+alt}")
    name, op, arg = match.group(1), match.group(2), match.group(3)
    report.used.add(name)
    value = env.get(name)
    is_set = value is not None
    non_empty = bool(value)

    def nested(s: str) -> str:
        return interpolate(s, env, where=where, report=report, _depth=depth + 1)

    if op is None:
        if not is_set:
            report.unset.add(name)
        return value or ""
    if op in (":-", "-"):
        if (op == ":-" and not non_empty) or (op == "-" and not is_set):
            default = nested(arg)
            if not is_set:
                report.defaulted[name] = default
            return default
        return value or ""
    if op in (":?", "?"):
        if (op == ":?" and not non_empty) or (op == "?" and not is_set):
            detail = nested(arg).strip() or ("is not set" if not is_set else "is empty")
            raise _fail(where, f"required variable {name} is missing a value: {detail}")
        return value or ""
    # ":+" / "+": the alternative when set (and non-empty for ":+"), else empty
    if (op == ":+" and non_empty) or (op == "+" and is_set):
        return nested(arg)
    return ""


def interpolate_tree(
    node: Any,
    env: Mapping[str, str],
    *,
    source: str = "",
    path: str = "",
    lines: Mapping[str, int] | None = None,
    report: Report | None = None,
) -> Any:
    """Interpolate every string in a YAML tree (keys are left alone; types are left to the model).

    `lines` maps dotted key paths to line numbers so errors read `stagectl.yaml:17: services.x.port: …`.
    """
    if isinstance(node, dict):
        return {
            k: interpolate_tree(v, env, source=source, path=f"{path}.{k}" if path else str(k), lines=lines, report=report)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            interpolate_tree(v, env, source=source, path=f"{path}[{i}]", lines=lines, report=report)
            for i, v in enumerate(node)
        ]
    if isinstance(node, str):
        line = (lines or {}).get(path)
        place = f"{source}:{line}" if line and source else source
        where = ": ".join(p for p in (place, path) if p)
        return interpolate(node, env, where=where, report=report)
    return node
