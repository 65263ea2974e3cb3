"""${VAR} / ${VAR:-default} / ${VAR:?error} / $$ interpolation. (Minimal first version.)"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stagectl.errors import ConfigError

_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str], *, where: str = "") -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
        elif op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise ConfigError(f"{where}: required variable {name} is not set: {arg}")
        return value if value is not None else ""

    return _TOKEN.sub(repl, text)


def interpolate_tree(node: Any, env: Mapping[str, str], *, source: str = "", path: str = "") -> Any:
    """Interpolate every string in a YAML tree (keys are left alone)."""
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env, source=source, path=f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env, source=source, path=f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):
        out = interpolate(node, env, where=f"{source} ({path})")
        return int(out) if out.isdigit() and node != out else out
    return node
