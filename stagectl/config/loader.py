"""Load a project: the stack spec plus its env file, resolved into one `Project`.

Precedence of variables: defaults (`${VAR:-d}` in the spec) < env file < process environment
< CLI overrides (`--set`). Every variable and every stack key records where it came from. Every
error names `file:line`, the dotted key path, what was expected and what was found — with known
secret values masked.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pydantic

from stagectl.config.envfile import parse_env_file
from stagectl.config.interpolate import Report, interpolate_tree
from stagectl.config.model import Stack
from stagectl.config.spec import SPEC_NAME, describe_errors, display_path, read_spec
from stagectl.errors import ConfigError
from stagectl.secrets import Masker

_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclasses.dataclass(frozen=True)
class Project:
    """A loaded project: where it lives, the validated stack, and the environment it resolved with."""

    root: Path
    spec_path: Path
    env_path: Path | None
    stack: Stack
    env: Mapping[str, str]  # resolved variables (defaults, env file, process env, overrides)
    sources: Mapping[str, str]  # variable or key path → "file:line" / "env" / "cli" / "default"
    using_example: bool = False  # True when env came from the example file (allow_example=True)
    env_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)  # variables only
    key_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)  # stack key paths only
    interpolation: Report = dataclasses.field(default_factory=Report)  # names the spec referenced
    key_variables: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # key path → ${NAMES} in it

    @property
    def state_dir(self) -> Path:
        return self.root / self.stack.state_dir / self.stack.project

    @property
    def render_dir(self) -> Path:
        return self.root / self.stack.render_dir

    def masker(self) -> Masker:
        """A masker for every secret value of this project's environment."""
        return Masker.from_env(self.env)


def find_root(start: Path | None = None) -> Path:
    """The nearest directory (from `start` upwards) holding stagectl.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / SPEC_NAME).is_file():
            return candidate
    raise ConfigError(f"no {SPEC_NAME} found in {here} or any parent", hint="run stagectl from the project directory or pass -C DIR")


def env_paths(root: Path, raw: Mapping[str, object], env_file: Path | None = None) -> tuple[Path, Path]:
    """(env file, example file) of a project: `--env-file` wins over the spec's `env_file` key."""
    def under_root(name: object) -> Path:
        path = Path(str(name))
        return path if path.is_absolute() else root / path

    chosen = Path(env_file) if env_file is not None else under_root(raw.get("env_file", ".env.staging"))
    if env_file is not None and not chosen.is_absolute():
        chosen = Path.cwd() / chosen
    return chosen, under_root(raw.get("env_example", ".env.staging.example"))


def load_project(
    root: Path | None = None,
    *,
    env_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    use_process_env: bool = True,
    allow_example: bool = False,
) -> Project:
    """Read stagectl.yaml and the env file, interpolate, validate. Raises ConfigError (exit 2).

    `root` may be any directory inside the project. When the env file is missing, the example file
    is used only with `allow_example=True` (never run staging on example secrets by accident).
    """
    root = find_root(root)
    spec_path = root / SPEC_NAME
    spec = read_spec(spec_path, root)
    process_env = os.environ if use_process_env else {}
    overrides = dict(overrides or {})

    env_path, example_path = env_paths(root, spec.data, env_file)
    using_example = False
    if not env_path.is_file():
        if not (allow_example and env_file is None and example_path.is_file()):
            raise ConfigError(
                f"{display_path(env_path, root)}: env file not found",
                hint="run `stagectl init` to create it from the example with fresh secrets",
            )
        env_path, using_example = example_path, True

    env: dict[str, str] = {}
    env_sources: dict[str, str] = {}
    label = display_path(env_path, root)
    # interpolation inside the env file sees the CLI and the process env first (their precedence)
    for var in parse_env_file(env_path, {**process_env, **overrides}, label=label):
        env[var.name] = var.value
        env_sources[var.name] = f"{label}:{var.line}"
    example_names = _names_in(example_path, root) if example_path != env_path else set(env)
    for key in (set(env) | example_names | _referenced_names(spec.data)):
        if key in process_env:
            env[key] = process_env[key]
            env_sources[key] = "env"
    for key, value in overrides.items():
        env[key] = value
        env_sources[key] = "cli"

    masker = Masker.from_env(env)
    report = Report()
    try:
        resolved = interpolate_tree(spec.data, env, source=SPEC_NAME, lines=spec.lines, report=report)
    except ConfigError as exc:
        raise ConfigError(masker(exc.message), hint=exc.hint) from None
    for name, default in report.defaulted.items():
        env.setdefault(name, default)
        env_sources.setdefault(name, "default")
    try:
        stack = Stack.model_validate(resolved)
    except pydantic.ValidationError as exc:
        problems = describe_errors(exc, spec, masker)
        more = f" (and {len(problems) - 1} more below)" if len(problems) > 1 else ""
        message = problems[0] + more + "".join(f"\n  {p}" for p in problems[1:])
        raise ConfigError(message, hint=f"fix {SPEC_NAME} (see docs for the stack spec)") from None

    key_sources = _key_sources(stack, spec.lines)
    return Project(
        root=root,
        spec_path=spec_path,
        env_path=env_path,
        stack=stack,
        env=env,
        sources={**key_sources, **env_sources},
        using_example=using_example,
        env_sources=env_sources,
        key_sources=key_sources,
        interpolation=report,
        key_variables=_key_variables(spec.data),
    )


def _names_in(path: Path, root: Path) -> set[str]:
    """Variable names of an env file (no interpolation errors matter here: only names)."""
    if not path.is_file():
        return set()
    try:
        return {v.name for v in parse_env_file(path, label=display_path(path, root))}
    except ConfigError:
        return set()


def _referenced_names(node: object) -> set[str]:
    """Every variable name the spec mentions (`$$` escapes excluded), including nested defaults."""
    if isinstance(node, dict):
        return set().union(*(_referenced_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_referenced_names(v) for v in node))
    if isinstance(node, str):
        return set(_REFERENCE.findall(node.replace("$$", "")))
    return set()


def _key_variables(node: object, path: str = "") -> dict[str, tuple[str, ...]]:
    """Leaf key path → the variables its raw value references (to explain interpolated values)."""
    if isinstance(node, dict):
        out: dict[str, tuple[str, ...]] = {}
        for k, v in node.items():
            out.update(_key_variables(v, f"{path}.{k}" if path else str(k)))
        return out
    names = _referenced_names(node)
    return {path: tuple(sorted(names))} if names else {}


def _key_sources(stack: Stack, lines: Mapping[str, int]) -> dict[str, str]:
    """Every leaf key path of the stack → `stagectl.yaml:LINE` or `default`."""
    out: dict[str, str] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
            return
        line = lines.get(path)
        out[path] = f"{SPEC_NAME}:{line}" if line else "default"

    walk(stack.model_dump(mode="json"), "")
    return out
