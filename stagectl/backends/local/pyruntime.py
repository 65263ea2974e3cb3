"""A Python the service user can run: the dashboard, the LLM stand-in and moto without root.

As root, the interpreter stagectl runs on and its site-packages often sit where the system user
`stagectl` cannot go (pyenv or a venv under /root, mode 0700), and the dashboard's code sits in
the checkout (a clone in `mktemp -d` is 0700 too). A venv made with `--system-site-packages`
does not help: its `python` is a symlink to the same unreachable interpreter, whose standard
library stays where it was. So stagectl publishes a runtime the user can read:

- `/var/cache/stagectl/python/<key>/` (root-owned, 0755; shared by all projects, made once per
  interpreter and set of installed versions): `prefix/` — a copy of the interpreter, its
  libpython and standard library (without tests, IDLE, Tk), only when the user cannot run the
  interpreter where it is (a system `/usr/bin/python3` is used as is); `site/` — the files of
  the distributions the services import (the closure of the dashboard's `pyproject.toml`
  dependencies plus moto's server), taken from each distribution's RECORD.
- `<service home>/app/<hash>/inventario_dashboard` (see datahome): the checkout's dashboard
  package, copied when its files change, so each project runs its own code.

Files are hard-linked where the filesystem allows (a second name for the same inode: no extra
disk, and the user reads what root installed, mode 0644), copied otherwise. Published by rename,
so a concurrent `up` sees a whole runtime or none. docs/architecture.md has the measured cost.
"""

from __future__ import annotations

import compileall
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stagectl.binaries import executable_by
from stagectl.errors import PreflightError

RUNTIME_ROOT = "/var/cache/stagectl/python"  # tests point it elsewhere
DASHBOARD_PACKAGE = "inventario_dashboard"
# moto's server, as the install hint of the moto runner names it (stagectl/runners.py)
MOTO_REQUIREMENTS = ("moto[s3]", "flask", "flask-cors")
# never imported by a service: ~125 MB of the standard library's 250 MB
STDLIB_SKIP = {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip"}


@dataclasses.dataclass(frozen=True)
class PythonRuntime:
    """How to run `python -m <module>` as the service user."""

    python: str
    env: dict[str, str]  # PYTHONPATH (app, site), PYTHONNOUSERSITE, LD_LIBRARY_PATH for a copied prefix


def runtime_for(user: str, root: Path, home: Path) -> PythonRuntime:
    """The runtime `user` runs the project's Python services with (see the module docstring)."""
    shared = _shared_runtime(user, tuple(_requirements(root)))
    app = publish_app(root / "dashboard" / DASHBOARD_PACKAGE, home / "app")
    env = {"PYTHONPATH": os.pathsep.join((str(app), shared.site)), "PYTHONNOUSERSITE": "1"}
    if shared.libdir:
        env["LD_LIBRARY_PATH"] = shared.libdir
    for path in (shared.python, app, shared.site):
        if not executable_by(user, path):
            raise PreflightError(f"user {user!r} cannot reach {path}", hint=f"chmod o+x the directories above {path}")
    return PythonRuntime(shared.python, env)


@dataclasses.dataclass(frozen=True)
class _Shared:
    python: str
    site: str
    libdir: str | None


def _requirements(root: Path) -> list[str]:
    """What the services import: the checkout's dashboard dependencies, plus moto's server."""
    pyproject = root / "dashboard" / "pyproject.toml"
    try:
        deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise PreflightError(f"cannot read the dashboard's dependencies from {pyproject}: {exc}") from None
    return [*deps, *MOTO_REQUIREMENTS]


@functools.lru_cache(maxsize=4)
def _shared_runtime(user: str, requirements: tuple[str, ...]) -> _Shared:
    dists = closure(requirements)
    exe = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths()["stdlib"]
    copy_prefix = not (executable_by(user, exe) and executable_by(user, stdlib))
    key_parts = [exe, sys.version, copy_prefix, *sorted(f"{d.name}=={d.version}:{_record_digest(d)}" for d in dists)]
    key = hashlib.sha256(json.dumps(key_parts).encode()).hexdigest()[:16]
    target = Path(RUNTIME_ROOT) / key
    if not (target / "complete").is_file():
        _publish(target, lambda tmp: _build(tmp, dists, copy_prefix, exe, stdlib))
    if copy_prefix:
        libdir = target / "prefix" / "lib"
        return _Shared(str(target / "prefix" / "bin" / Path(exe).name), str(target / "site"), str(libdir))
    return _Shared(exe, str(target / "site"), None)


def closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions `requirements` need, transitively (extras and markers applied).
    Editable installs (stagectl, the dashboard) are left out: their code comes from the checkout."""
    found: dict[str, tuple[metadata.Distribution, set[str]]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if name in found and extras <= found[name][1]:
            continue
        try:
            dist = found[name][0] if name in found else metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            if req.marker is None or req.marker.evaluate():
                raise PreflightError(f"the Python distribution {req.name!r} is not installed",
                                     hint=f"pip install '{req}'") from None
            continue
        extras |= found[name][1] if name in found else set()
        found[name] = (dist, extras)
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *sorted(extras))):
                todo.append(sub)
    return [dist for dist, _ in found.values() if not _editable(dist)]


def _editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    return bool(text and json.loads(text).get("dir_info", {}).get("editable"))


def _record_digest(dist: metadata.Distribution) -> str:
    """Changes when the distribution is reinstalled with other files."""
    return hashlib.sha256((dist.read_text("RECORD") or "").encode()).hexdigest()[:12]


def _build(tmp: Path, dists: list[metadata.Distribution], copy_prefix: bool, exe: str, stdlib: str) -> None:
    # plain os.path on strings: ~16,000 files, where pathlib's per-file overhead was most of the time
    site = str(tmp / "site")
    made: set[str] = set()
    for dist in dists:
        base = os.path.realpath(str(dist.locate_file("")))
        for rel in _files_of(dist, base):
            src = os.path.normpath(os.path.join(base, rel))
            if not src.startswith(base + os.sep) or not os.path.isfile(src):
                continue  # console scripts in bin/, files a later install removed
            _link_or_copy(src, os.path.join(site, src[len(base) + 1:]), made)
    if copy_prefix:
        _copy_prefix(str(tmp / "prefix"), exe, stdlib, made)
    (tmp / "complete").write_text("ok\n", encoding="utf-8")


def _files_of(dist: metadata.Distribution, base: str) -> list[str]:
    """The distribution's files, relative to `base`: its RECORD, or (Debian's packages ship none)
    everything under its top-level names from top_level.txt."""
    if dist.files is not None:
        return [str(rel) for rel in dist.files]
    tops = (dist.read_text("top_level.txt") or "").split()
    if not tops:
        raise PreflightError(f"the Python distribution {dist.name!r} lists no files (no RECORD, no top_level.txt)",
                             hint=f"pip install --force-reinstall {dist.name}")
    info = getattr(dist, "_path", None)  # its .dist-info: importlib.metadata.version() must work there too
    found = [os.path.relpath(os.path.join(info, f), base) for f in os.listdir(info)] if info and os.path.isdir(info) else []
    for entry in os.listdir(base):
        if entry.split(".")[0] in tops:
            path = os.path.join(base, entry)
            if os.path.isdir(path):
                found += [os.path.relpath(os.path.join(d, f), base) for d, _, fs in os.walk(path) for f in fs]
            else:
                found.append(entry)
    return found


def _copy_prefix(prefix: str, exe: str, stdlib: str, made: set[str]) -> None:
    """The interpreter, its libpython and its standard library, in the layout it finds its
    prefix by (bin/python3.X beside lib/python3.X/os.py)."""
    _link_or_copy(exe, os.path.join(prefix, "bin", os.path.basename(exe)), made)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    for name in {sysconfig.get_config_var("INSTSONAME"), sysconfig.get_config_var("LDLIBRARY")}:
        if name and ".so" in name and os.path.isfile(os.path.join(libdir, name)):
            _link_or_copy(os.path.realpath(os.path.join(libdir, name)), os.path.join(prefix, "lib", name), made)
    target = os.path.join(prefix, "lib", os.path.basename(stdlib))
    for dirpath, dirs, files in os.walk(stdlib):
        if dirpath == stdlib:
            dirs[:] = [d for d in dirs if d not in STDLIB_SKIP]
        rel = os.path.relpath(dirpath, stdlib)
        for name in files:
            _link_or_copy(os.path.join(dirpath, name), os.path.normpath(os.path.join(target, rel, name)), made)


def _link_or_copy(src: str, dst: str, made: set[str]) -> None:
    parent = os.path.dirname(dst)
    if parent not in made:
        os.makedirs(parent, exist_ok=True)
        made.add(parent)
    try:
        os.link(src, dst, follow_symlinks=True)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def _publish(target: Path, build) -> None:
    """Build into a temp dir beside `target`, make it readable by all, rename it into place."""
    _public_dir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        build(tmp)
        _readable(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "complete").is_file():  # the loser of a race keeps the winner's
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _public_dir(path: Path) -> None:
    """`path` and its missing parents, created 0755 whatever the umask (dirs that exist are left alone)."""
    for part in [*reversed(path.parents), path]:
        if not part.exists():
            part.mkdir()
            os.chmod(part, 0o755)


def _readable(tree: Path) -> None:
    """Directories 0755 (the umask of a root shell may be 077); copied files keep their modes."""
    os.chmod(tree, 0o755)
    for dirpath, _dirs, _files in os.walk(tree):
        os.chmod(dirpath, 0o755)


def publish_app(package: Path, apps: Path) -> Path:
    """A copy of the dashboard package under `apps/<hash of its files>/` (the PYTHONPATH entry);
    copies of older code are removed. Byte code is compiled in the copy, so the service user
    (who cannot write there) never compiles at start."""
    files = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise PreflightError(f"no dashboard code at {package}")
    stamp = hashlib.sha256()
    for path in files:
        st = path.stat()
        stamp.update(f"{path.relative_to(package)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    target = apps / stamp.hexdigest()[:16]
    if not (target / "complete").is_file():

        def build(tmp: Path) -> None:
            for path in files:
                dst = tmp / package.name / path.relative_to(package)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dst)  # a copy, not a link: an edit in the checkout must not change it
                os.chmod(dst, 0o644)
            compileall.compile_dir(tmp / package.name, quiet=2)
            for pyc in (tmp / package.name).rglob("*.pyc"):
                os.chmod(pyc, 0o644)
            (tmp / "complete").write_text("ok\n", encoding="utf-8")

        _publish(target, build)
        for other in apps.iterdir():
            if other != target and not other.name.startswith("."):
                shutil.rmtree(other, ignore_errors=True)
    return target
