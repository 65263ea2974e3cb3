"""Parse .env files in Compose's documented dialect, keeping line numbers.

Rules (docs.docker.com/compose/env-file): `#` lines and blank lines are ignored; an optional
`export ` prefix; `NAME=value` where NAME is `[A-Za-z_][A-Za-z0-9_]*`; unquoted values end at an
inline comment preceded by whitespace and are trimmed; 'single quotes' are literal (only \\' is an
escape); "double quotes" understand \\n \\r \\t \\\\ \\" \\$ and may span lines; unquoted and
double-quoted values are interpolated (${VAR}, ${VAR:-d}, …) from variables defined earlier in the
file, then from `lookup`. A bare `NAME` takes its value from `lookup` (or is skipped when unset).

Hand-written rather than python-dotenv because that library skips malformed lines with a warning,
whereas staging must stop at them with file:line — and messages here never contain a value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

from stagectl.config.interpolate import interpolate
from stagectl.errors import ConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export[ \t]+")
_DOUBLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$$"}
_HINT = "see the .env syntax in docs (Compose rules); quote values holding '#', spaces or '$'"


@dataclasses.dataclass(frozen=True)
class EnvVar:
    """One variable: its name, its value, and the line it starts on (end_line for multi-line)."""

    name: str
    value: str
    line: int
    end_line: int = 0
    quoted: str = ""  # "'", '"' or "" (unquoted)


def _decode(data: bytes, label: str) -> str:
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ConfigError(f"{label}:{line}: NUL byte in env file", hint="the file looks binary or corrupted")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{label}:{line}: not valid UTF-8", hint="save the env file as UTF-8") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def parse_env_file(path: Path, lookup: Mapping[str, str] | None = None, *, label: str | None = None) -> list[EnvVar]:
    """Return the variables of an env file in order. Raises ConfigError with file:line."""
    label = label or str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{label}: env file not found", hint="run `stagectl init` to create it") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read env file: {exc.strerror}") from None
    return parse_env_text(data, label, lookup)


def parse_env_text(data: bytes | str, label: str = ".env", lookup: Mapping[str, str] | None = None) -> list[EnvVar]:
    """Parse env-file content (bytes are checked for NUL and UTF-8). Raises only ConfigError."""
    text = _decode(data, label) if isinstance(data, bytes) else _decode(data.encode("utf-8", "surrogatepass"), label)
    lines = text.split("\n")
    seen: dict[str, str] = {}
    out: list[EnvVar] = []
    index = 0
    while index < len(lines):
        number = index + 1
        raw = lines[index].lstrip(" \t")
        index += 1
        if not raw or raw.startswith("#"):
            continue
        where = f"{label}:{number}"
        export = _EXPORT.match(raw)
        if export:
            raw = raw[export.end():]
        key_match = _KEY.match(raw)
        if not key_match:
            raise ConfigError(f"{where}: invalid variable name (expected NAME=value, NAME like [A-Za-z_][A-Za-z0-9_]*)", hint=_HINT)
        name = key_match.group(0)
        rest = raw[key_match.end():].lstrip(" \t")
        if not rest or rest.startswith("#"):
            inherited = (lookup or {}).get(name)  # bare NAME: inherit, as Compose does
            if inherited is not None:
                out.append(EnvVar(name, inherited, number, number))
                seen[name] = inherited
            continue
        if not rest.startswith("="):
            raise ConfigError(f"{where}: expected '=' after {name}", hint=_HINT)
        rest = rest[1:].lstrip(" \t")
        scope = _Scope(seen, lookup)
        if rest.startswith("'") or rest.startswith('"'):
            value, index = _quoted(rest, lines, index, where, name, scope)
            quote = rest[0]
        else:
            value = _unquoted(rest, where, name, scope)
            quote = ""
        out.append(EnvVar(name, value, number, index if quote else number, quote))
        seen[name] = value
    return out


class _Scope(Mapping[str, str]):
    """Variables visible to interpolation in an env file: earlier ones in the file win over lookup."""

    def __init__(self, seen: Mapping[str, str], lookup: Mapping[str, str] | None):
        self._seen, self._lookup = seen, lookup or {}

    def __getitem__(self, key: str) -> str:
        if key in self._seen:
            return self._seen[key]
        return self._lookup[key]

    def __iter__(self):
        return iter({**self._lookup, **self._seen})

    def __len__(self) -> int:
        return len({**self._lookup, **self._seen})


def _unquoted(rest: str, where: str, name: str, scope: Mapping[str, str]) -> str:
    comment = re.search(r"[ \t]#", rest)
    value = (rest[: comment.start()] if comment else rest).strip(" \t")
    return interpolate(value, scope, where=f"{where}: {name}")


def _quoted(rest: str, lines: list[str], index: int, where: str, name: str, scope: Mapping[str, str]) -> tuple[str, int]:
    """Scan a quoted value that may continue over the following lines; return (value, next index)."""
    quote = rest[0]
    text, pos, buf = rest, 1, []
    while True:
        while pos < len(text):
            ch = text[pos]
            if ch == "\\" and pos + 1 < len(text):
                nxt = text[pos + 1]
                if quote == "'":
                    buf.append("'" if nxt == "'" else ch + nxt)
                else:
                    buf.append(_DOUBLE_ESCAPES.get(nxt, ch + nxt))
                pos += 2
                continue
            if ch == quote:
                tail = text[pos + 1 :].strip(" \t")
                if tail and not tail.startswith("#"):
                    raise ConfigError(f"{where}: unexpected text after the closing quote of {name}", hint=_HINT)
                value = "".join(buf)
                if quote == "'":
                    return value, index
                return interpolate(value, scope, where=f"{where}: {name}"), index
            buf.append(ch)
            pos += 1
        if index >= len(lines):
            kind = "single" if quote == "'" else "double"
            raise ConfigError(f"{where}: unterminated {kind}-quoted value of {name}", hint=_HINT)
        buf.append("\n")
        text, pos = lines[index], 0
        index += 1
