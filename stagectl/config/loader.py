"""Load a project: the stack spec plus its env file, resolved into one `Project`.

Precedence: defaults < env file < process environment < CLI overrides. (First version: the
interpolation and error reporting here are minimal; see envfile.py / interpolate.py.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from stagectl.config.model import Stack
from stagectl.errors import ConfigError

SPEC_NAME = "stagectl.yaml"


@dataclasses.dataclass(frozen=True)
class Project:
    """A loaded project: where it lives, the validated stack, and the environment it resolved with."""

    root: Path
    spec_path: Path
    env_path: Path | None
    stack: Stack
    env: Mapping[str, str]  # resolved variables (env file, then process env, then overrides)
    sources: Mapping[str, str]  # variable or key path → "file:line" / "env" / "default" / "cli"

    @property
    def state_dir(self) -> Path:
        return self.root / self.stack.state_dir / self.stack.project

    @property
    def render_dir(self) -> Path:
        return self.root / self.stack.render_dir


def find_root(start: Path | None = None) -> Path:
    """The nearest directory (from `start` upwards) holding stagectl.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / SPEC_NAME).is_file():
            return candidate
    raise ConfigError(f"no {SPEC_NAME} found in {here} or any parent", hint="run stagectl from the project directory")


def load_project(
    root: Path | None = None,
    *,
    env_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    use_process_env: bool = True,
) -> Project:
    """Read stagectl.yaml and the env file, interpolate, validate. Raises ConfigError (exit 2)."""
    from stagectl.config.envfile import parse_env_file
    from stagectl.config.interpolate import interpolate_tree

    root = (root or find_root()).resolve()
    spec_path = root / SPEC_NAME
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{spec_path}:{mark.line + 1}" if mark else str(spec_path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ConfigError(f"{spec_path}: {exc.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{spec_path}:1: expected a mapping at the top level")

    env_name = env_file or root / str(raw.get("env_file", ".env.staging"))
    env_path = Path(env_name) if Path(env_name).is_absolute() else root / env_name
    env: dict[str, str] = {}
    sources: dict[str, str] = {}
    if env_path.is_file():
        for var in parse_env_file(env_path):
            env[var.name] = var.value
            sources[var.name] = f"{env_path}:{var.line}"
    else:
        env_path = None
    if use_process_env:
        for key in list(env):
            if key in os.environ:
                env[key] = os.environ[key]
                sources[key] = "env"
    for key, value in (overrides or {}).items():
        env[key] = value
        sources[key] = "cli"

    resolved = interpolate_tree(raw, env, source=str(spec_path))
    try:
        stack = Stack.model_validate(resolved)
    except Exception as exc:  # pydantic.ValidationError → one readable line per problem
        raise ConfigError(f"{spec_path}: invalid stack spec:\n{exc}") from None
    return Project(root=root, spec_path=spec_path, env_path=env_path, stack=stack, env=env, sources=sources)
