"""Pydantic aliases in the dashboard's sources: which environment names a settings field is read
under when it declares `alias=`, `validation_alias=` or `AliasChoices(...)` (the field's own name
is then not read at all)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

ALIAS_KEYWORDS = ("alias", "validation_alias")


@dataclasses.dataclass(frozen=True)
class AliasedField:
    field: str           # the attribute name (never read from the environment)
    names: tuple[str, ...]  # the environment names pydantic reads instead
    path: Path
    line: int


def _alias_strings(node: ast.expr) -> list[str]:
    """"NAME", AliasChoices("A", "B"), AliasPath("A", ...) → the names they read."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Call):
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if callee == "AliasChoices":
            return [name for arg in node.args for name in _alias_strings(arg)]
        if callee == "AliasPath" and node.args:
            return _alias_strings(node.args[0])
    return []


def _field_calls(value: ast.expr | None, annotation: ast.expr) -> list[ast.Call]:
    """`Field(...)` as the default, or inside `Annotated[..., Field(...)]`."""
    calls = [value] if isinstance(value, ast.Call) else []
    calls += [n for n in ast.walk(annotation) if isinstance(n, ast.Call)]
    return calls


def aliased_fields(sources: dict[Path, str]) -> list[AliasedField]:
    """Every annotated class attribute whose Field(...) carries an alias, in source order."""
    found: list[AliasedField] = []
    for path, text in sources.items():
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue  # files.dashboard_package / the dashboard's own tests report that
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for stmt in cls.body:
                if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                    continue
                names = [name for call in _field_calls(stmt.value, stmt.annotation)
                         for kw in call.keywords if kw.arg in ALIAS_KEYWORDS for name in _alias_strings(kw.value)]
                if names:
                    found.append(AliasedField(stmt.target.id, tuple(dict.fromkeys(names)), path, stmt.lineno))
    return found
