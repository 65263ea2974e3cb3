"""A new env file from the example, with fresh secrets (`stagectl init`, and `stagectl run` in a fresh clone).

Every variable whose name marks it as a secret (`stagectl.secrets.is_secret_name`) gets a new
random value from the `secrets` module; everything else, comments and layout included, is copied
as is. The file is written atomically with mode 0600 and never overwritten without --force.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from stagectl.errors import ConfigError
from stagectl.secrets import is_secret_name

if TYPE_CHECKING:
    from stagectl.config.envfile import EnvVar

SECRET_BYTES = 32  # 256 bits; token_urlsafe never yields '$', quotes, '#' or spaces


def new_secret() -> str:
    """A fresh secret safe to write unquoted in a .env file."""
    return secrets.token_urlsafe(SECRET_BYTES)


def render_env_file(example_text: str, variables: list[EnvVar]) -> tuple[str, list[str]]:
    """The example text with every secret variable's value replaced; returns (text, names)."""
    lines = example_text.replace("\r\n", "\n").split("\n")
    generated: list[str] = []
    # last definition of a name wins in .env files, so replace every definition
    for var in sorted((v for v in variables if is_secret_name(v.name)), key=lambda v: v.line, reverse=True):
        first, last = var.line - 1, max(var.end_line, var.line) - 1
        prefix = "export " if lines[first].lstrip().startswith("export") else ""
        lines[first : last + 1] = [f"{prefix}{var.name}={new_secret()}"]
        if var.name not in generated:
            generated.append(var.name)
    return "\n".join(lines), sorted(generated)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only (0600 from the first byte)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # in case the umask or an existing ACL widened it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def init_env(root: Path, env_file: Path | None = None, *, force: bool = False) -> tuple[Path, list[str]]:
    """Create the project's env file from its example. Returns (path written, generated names)."""
    # the config package loads pydantic (~0.2 s): imported when an env file is made, not at start-up
    from stagectl.config.envfile import parse_env_file
    from stagectl.config.loader import env_paths
    from stagectl.config.spec import SPEC_NAME, display_path, read_spec

    target, example = env_paths(root, read_spec(root / SPEC_NAME, root).data, env_file)
    if target.exists() and not force:
        raise ConfigError(f"{display_path(target, root)} already exists", hint="pass --force to replace it (its secrets are regenerated)")
    if not example.is_file():
        raise ConfigError(f"{display_path(example, root)}: example env file not found", hint=f"the env example is named by env_example in {SPEC_NAME}")
    variables = parse_env_file(example, label=display_path(example, root))
    text, generated = render_env_file(example.read_text(encoding="utf-8"), variables)
    write_private(target, text)
    return target, generated
