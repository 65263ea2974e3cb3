"""Parse .env files (Compose's dialect) with line numbers. (Minimal first version.)"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from stagectl.errors import ConfigError

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


@dataclasses.dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    line: int


def parse_env_file(path: Path) -> list[EnvVar]:
    """Return the variables of an env file in order. Raises ConfigError with file:line."""
    out: list[EnvVar] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if not match:
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out.append(EnvVar(match.group(1), value, number))
    return out
