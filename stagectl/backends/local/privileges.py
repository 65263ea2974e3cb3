"""Least privilege for local services: who a service runs as, and files only its user can read.

As root, PostgreSQL runs as the OS user `postgres` (it refuses root) and the other services as the
system user `stagectl`, created on first use. What they read and write lives in the project's
service home outside the checkout (see datahome), Python services run from a runtime that user can
read (see pyruntime). Private files are 0600, written with O_NOFOLLOW.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from stagectl.backends.local import datahome
from stagectl.errors import PreflightError
from stagectl.process import open_private, private_dir

if TYPE_CHECKING:
    from stagectl.backends.local.runners import RunnerContext

PG_USER = "postgres"  # PostgreSQL refuses to run as root; the Debian packages create this user
SERVICE_USER = "stagectl"  # every other service, when stagectl runs as root (created on demand)


def private_file(path: Path, text: str, *, owner: str | None = None) -> Path:
    """Write a 0600 file (readable by `owner` only) without following a planted symlink.

    Its directory is 0711: the service users may reach their own file by name, nobody may list.
    """
    try:
        fd = open_private(path, os.O_WRONLY | os.O_TRUNC, dir_mode=0o711)
    except OSError as exc:
        raise PreflightError(f"cannot write the private file {path}: {exc.strerror}",
                             hint=f"remove what is at {path} (a symlink is never followed)") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if owner:
            entry = pwd.getpwnam(owner)
            os.fchown(fh.fileno(), entry.pw_uid, entry.pw_gid)
        fh.write(text)
    return path


def service_user(name: str, executable: str | None, ctx: RunnerContext, *, python: bool = False) -> str | None:
    """The unprivileged user a service runs as when stagectl is root (None: as stagectl itself).

    The system user SERVICE_USER is created on first use. Its config and data live in the
    project's service home (see datahome). A service whose executable that user cannot reach (a
    binary under /root, mode 0700) stays root, and its log says why. `python`: a Python service,
    whose interpreter is checked when its runtime is made (see pyruntime).
    """
    if os.geteuid() != 0 or not (executable or python):
        return None
    ensure_service_user()
    datahome.ensure_home(ctx.state_dir)
    try:
        if executable:
            check_reachable_by(SERVICE_USER, Path(executable), name)
        check_reachable_by(SERVICE_USER, ctx.home, name)  # its config and data live below
    except PreflightError as exc:
        note(ctx, name, f"running as root: {exc}")
        return None
    return SERVICE_USER


def ensure_service_user() -> None:
    """Create the SERVICE_USER system account (no home, no login shell) if it does not exist."""
    with contextlib.suppress(KeyError):
        pwd.getpwnam(SERVICE_USER)
        return
    done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", "/usr/sbin/nologin", SERVICE_USER], capture_output=True, text=True, timeout=60)
    try:
        pwd.getpwnam(SERVICE_USER)  # a concurrent run may have created it first: that is fine
    except KeyError:
        raise PreflightError(f"cannot create the system user {SERVICE_USER!r}: {done.stderr.strip()}",
                             hint=f"useradd --system --user-group --no-create-home {SERVICE_USER}") from None


def service_data_dir(ctx: RunnerContext, name: str, user: str | None) -> Path:
    """The service's data dir: 0700, owned by the user it runs as (Redis' AOF holds sessions).
    Data an earlier run kept in the checkout (before it moved to the service home) is moved along."""
    legacy = ctx.legacy_data_dir(name)
    if legacy != ctx.data_dir(name) and legacy.is_dir() and not ctx.data_dir(name).exists():
        ctx.data_dir(name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(legacy), str(ctx.data_dir(name)))  # a rename, or a copy across filesystems
    data = private_dir(ctx.data_dir(name))
    if user:
        entry = pwd.getpwnam(user)
        for path in [data, *data.rglob("*")]:  # data left by an earlier root-owned run
            os.lchown(path, entry.pw_uid, entry.pw_gid)
    return data


def owned_private_dir(path: Path, user: str) -> Path:
    """`path` as a 0700 directory owned by `user` (what it creates inside stays its own)."""
    private_dir(path)
    entry = pwd.getpwnam(user)
    os.lchown(path, entry.pw_uid, entry.pw_gid)
    return path


def note(ctx: RunnerContext, name: str, message: str) -> None:
    """A stagectl line in the service's own log (where `stagectl logs <name>` shows it)."""
    with os.fdopen(open_private(ctx.state_dir / "logs" / f"{name}.log", os.O_WRONLY | os.O_APPEND), "a",
                   encoding="utf-8") as fh:
        fh.write(f"stagectl: {message}\n")


def check_reachable_by(user: str, path: Path, service: str = "postgres") -> None:
    """`service` runs as `user`: every parent directory must let it through (o+x)."""
    entry = pwd.getpwnam(user)
    while not path.exists() and path.parent != path:  # check what exists; the rest we create
        path = path.parent
    for parent in [*reversed(path.parents), path]:
        st = parent.stat()
        if st.st_uid == entry.pw_uid or st.st_mode & 0o001 or (st.st_gid == entry.pw_gid and st.st_mode & 0o010):
            continue
        raise PreflightError(
            f"{service}: user {user!r} cannot reach {path} (mode {oct(st.st_mode & 0o777)} on {parent})",
            hint=f"chmod o+x {parent}, or put the project in a directory other users can traverse",
        )
