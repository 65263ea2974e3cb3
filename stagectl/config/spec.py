"""Read stagectl.yaml keeping the line of every key, and turn validation errors into
`stagectl.yaml:LINE: key.path: expected …, found …` lines."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import pydantic
import yaml

from stagectl.config.model import SpecError, Stack
from stagectl.errors import ConfigError
from stagectl.secrets import Masker

SPEC_NAME = "stagectl.yaml"
_SPEC_HINT = f"fix {SPEC_NAME} (the stack spec)"


@dataclasses.dataclass(frozen=True)
class SpecText:
    """The parsed spec: plain data plus `lines` (dotted key path → 1-based line of the key)."""

    path: Path
    label: str
    data: dict[str, Any]
    lines: dict[str, int]


def display_path(path: Path, root: Path) -> str:
    """`path` relative to the project root when inside it (stable, short error messages)."""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def dotted(loc: tuple[str | int, ...]) -> str:
    """('services', 'db', 'depends_on', 0) → 'services.db.depends_on[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def read_spec(path: Path, root: Path) -> SpecText:
    """Parse the spec with PyYAML's node marks (line numbers); duplicate keys are errors."""
    label = display_path(path, root)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror}", hint=_SPEC_HINT) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not valid UTF-8", hint=_SPEC_HINT) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}" if mark else label
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}", hint=_SPEC_HINT) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}", hint=_SPEC_HINT) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        found = "an empty file" if data is None else type(data).__name__
        raise ConfigError(f"{label}:1: expected a mapping at the top level, found {found}", hint=_SPEC_HINT)
    lines: dict[str, int] = {}
    if node is not None:
        _record_lines(node, (), lines, label)
    return SpecText(path=path, label=label, data=data, lines=lines)


def _record_lines(node: yaml.Node, loc: tuple[str | int, ...], lines: dict[str, int], label: str) -> None:
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            child = (*loc, key_node.value)
            if key_node.value in first_line:
                raise ConfigError(
                    f"{label}:{line}: {dotted(child)}: duplicate key (first defined on line {first_line[key_node.value]})",
                    hint=_SPEC_HINT,
                )
            first_line[key_node.value] = line
            lines[dotted(child)] = line
            _record_lines(value_node, child, lines, label)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            lines[dotted(child)] = item.start_mark.line + 1
            _record_lines(item, child, lines, label)


def _line_for(loc: tuple[str | int, ...], lines: dict[str, int]) -> int:
    """The line of `loc`, or of its nearest ancestor that is in the file (1 for the top level)."""
    for end in range(len(loc), 0, -1):
        line = lines.get(dotted(loc[:end]))
        if line:
            return line
    return 1


def _model_at(loc: tuple[str | int, ...]) -> type[pydantic.BaseModel] | None:
    """The model class validating the mapping at `loc` (to list the keys it accepts)."""
    current: Any = Stack
    parts = list(loc)
    while parts:
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            field = current.model_fields.get(str(parts.pop(0)))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (dict, list):
            parts.pop(0)
            current = args[-1]
        elif origin in (typing.Union, types.UnionType):
            current = next((a for a in args if a is not type(None)), None)
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


def _found(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_errors(exc: pydantic.ValidationError, spec: SpecText, masker: Masker) -> list[str]:
    """One `stagectl.yaml:LINE: key.path: problem` line per validation error, secrets masked."""
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc: tuple[str | int, ...] = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SpecError):
            loc, problem = cause.loc, cause.message
        elif err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = f" (expected one of: {', '.join(model.model_fields)})" if model else ""
            problem = f"unknown key {loc[-1]!r}{allowed}"
        elif err["type"] == "missing":
            loc, problem = loc[:-1], f"missing required key {loc[-1]!r}"
        else:
            message = err["msg"].removeprefix("Value error, ").replace("Input should be", "expected")
            problem = message if "found" in message else f"{message}; found {_found(err['input'])}"
        line = _line_for(loc, spec.lines)
        path = dotted(loc) or "(top level)"
        out.append(masker(f"{spec.label}:{line}: {path}: {problem}"))
    return out
