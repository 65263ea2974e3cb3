"""`stagectl exec SERVICE -- CMD…` on the local backend: the command runs as the service's OS user,
in its working directory, with its environment — plus the client variables its own tools read, so
`psql` or `redis-cli` connect the way they would inside the service's container (PostgreSQL has no
Unix socket here, so the PG* variables point psql at its TCP port; secrets go by environment,
never argv)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from stagectl.backends.local.runners import RunnerContext, build_launch
from stagectl.errors import PreflightError, StagectlError
from stagectl.process import as_user


def client_env(runner: str, port: int, env: dict[str, str], argv0_dir: str | None) -> dict[str, str]:
    """The variables a runner's own client tools read."""
    if runner == "postgres":
        user = env.get("POSTGRES_USER", "postgres")
        extra = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": user,
                 "PGDATABASE": env.get("POSTGRES_DB", user), "PGPASSWORD": env.get("POSTGRES_PASSWORD", "")}
    elif runner == "redis":
        extra = {"REDISCLI_AUTH": env.get("REDIS_PASSWORD", ""), "REDIS_PORT": str(port)}
    else:
        extra = {"PORT": str(port)}
    if argv0_dir:  # the service's own binaries first (psql beside the postgres that runs)
        extra["PATH"] = os.pathsep.join([argv0_dir, os.environ.get("PATH", "")])
    return {k: v for k, v in extra.items() if v}


def exec_in(ctx: RunnerContext, service: str, argv: Sequence[str]) -> int:
    """Run `argv` like the service runs; stdin/stdout/stderr are this process's. The exit code."""
    if not argv:
        raise StagectlError("nothing to run", hint=f"stagectl exec {service} -- COMMAND [ARG…]")
    svc = ctx.stack.services[service]
    launch = build_launch(service, svc, ctx)
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TZ")}
    argv0_dir = str(Path(launch.argv[0]).parent) if launch.argv and "/" in launch.argv[0] else None
    env = {**base, **launch.env, **client_env(svc.runner, svc.port, dict(ctx.env), argv0_dir)}
    cwd = launch.cwd if launch.cwd is not None and launch.cwd.is_dir() else ctx.root
    program = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
    if program is None:  # resolved here: execvp would report an unreadable PATH entry instead
        raise PreflightError(f"{service}: {argv[0]}: command not found (in the service's PATH)")
    try:
        return subprocess.run([program, *argv[1:]], env=env, cwd=cwd, **as_user(launch.user), check=False).returncode
    except FileNotFoundError:
        raise PreflightError(f"{service}: {argv[0]}: command not found (in the service's PATH)") from None
    except PermissionError as exc:
        raise PreflightError(f"{service}: {argv[0]}: {exc.strerror}") from None
