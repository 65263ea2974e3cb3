"""The PostgreSQL template cache (stagectl/backends/local/pgtemplate.py) against real PostgreSQL.

Each test prepares data dirs through the real `postgres` runner (`build_launch(...).prepare()`),
with XDG_CACHE_HOME pointed at a temp dir, and starts PostgreSQL on a free loopback port to log in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from stagectl.backends.local import datahome, pgtemplate, runners
from stagectl.binaries import postgres_bindir
from stagectl.config.model import Service, Stack
from stagectl.process import stop_group

pytestmark = pytest.mark.skipif(postgres_bindir() is None, reason="no PostgreSQL binaries (postgres/initdb) found")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


THROWAWAY = "throwaway-" + secrets.token_urlsafe(12)  # the primed template's superuser password


@pytest.fixture
def tmp(monkeypatch):
    """A temp dir the postgres OS user can traverse, with an empty template cache inside it."""
    root = Path(tempfile.mkdtemp(prefix="stagectl-pgt-"))
    root.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def built_cache():
    """One template for user 'inventario', built once for the module (an initdb is ~1.5–3 s here)."""
    root = Path(tempfile.mkdtemp(prefix="stagectl-pgt-first-"))
    root.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
        mp.setattr(pgtemplate, "throwaway_password", lambda: THROWAWAY)
        Project(root / "first").prepare()
    yield root / "cache"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def primed(tmp, built_cache):
    """`tmp` whose cache already holds the module's template (as a previous `up` left it)."""
    subprocess.run(["cp", "-a", str(built_cache), str(tmp / "cache")], check=True)
    return tmp


class Calls:
    """Every program the runner runs for setup, plus every argv seen in /proc meanwhile."""

    def __init__(self, monkeypatch):
        self.argvs: list[list[str]] = []
        self.stdins: list[str] = []
        real = runners._run_as

        def spy(user, argv, **kw):
            self.argvs.append(list(argv))
            self.stdins.append(kw.get("stdin") or "")
            return real(user, argv, **kw)

        monkeypatch.setattr(runners, "_run_as", spy)

    def programs(self) -> list[str]:
        return [Path(a[0]).name + (" --single" if "--single" in a else "") for a in self.argvs]

    def reset(self) -> None:
        self.argvs.clear()
        self.stdins.clear()


@pytest.fixture
def calls(monkeypatch):
    return Calls(monkeypatch)


class Project:
    def __init__(self, root: Path, user: str = "inventario", db: str = "inventario_staging"):
        root.mkdir(parents=True)
        root.chmod(0o755)
        self.root = root
        self.port = free_port()
        self.env = {"POSTGRES_USER": user, "POSTGRES_DB": db, "POSTGRES_PASSWORD": "pw-" + secrets.token_urlsafe(16)}
        self.svc = Service(runner="postgres", port=self.port, container_port=5432, stop_signal="SIGINT",
                           healthcheck={"probe": "postgres"})
        self.ctx = runners.RunnerContext(Stack(version=1, project="pgt", services={"postgres": self.svc}),
                                         self.env, root, root / ".stagectl")
        self.launch = runners.build_launch("postgres", self.svc, self.ctx)
        self.data = self.ctx.pg_data_dir("postgres")
        self.log = self.ctx.state_dir / "logs" / "postgres.log"

    def reconfigure(self, **env: str) -> None:
        """The same data dir under changed env values (a fresh clone's secrets, another database)."""
        self.env = {**self.env, **env}
        self.ctx = dataclasses.replace(self.ctx, env=self.env)
        self.launch = runners.build_launch("postgres", self.svc, self.ctx)

    def prepare(self) -> float:
        started = time.monotonic()
        self.launch.prepare()
        return time.monotonic() - started

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    @contextlib.contextmanager
    def running(self):
        proc = subprocess.Popen(self.launch.argv, cwd=self.launch.cwd, user=self.launch.user,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with self.connect():
                        break
                except psycopg.OperationalError as exc:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err = proc.stderr.read().decode(errors="replace")[-800:] if proc.poll() is not None else ""
                        raise AssertionError(f"postgres not ready: {exc}; {err}") from None
                    time.sleep(0.02)
            yield self
        finally:
            stop_group(proc.pid, signal.SIGINT, 10.0, reap=proc)
            proc.stderr.close()

    def connect(self, password: str | None = None, user: str | None = None, db: str | None = None):
        return psycopg.connect(host="127.0.0.1", port=self.port, user=user or self.env["POSTGRES_USER"],
                               password=self.env["POSTGRES_PASSWORD"] if password is None else password,
                               dbname=db or self.env["POSTGRES_DB"], connect_timeout=3)


def templates(tmp: Path) -> list[Path]:
    root = tmp / "cache" / "stagectl" / "pg-template"
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.exists() else []


def test_template_is_built_once_then_copied_without_initdb(tmp, calls):
    first = Project(tmp / "a")
    first.prepare()
    assert "initdb" in calls.programs()
    [template] = templates(tmp)
    assert "pg template built" in first.log_text()
    inode = template.stat().st_ino

    calls.reset()
    second = Project(tmp / "b")
    second.prepare()
    assert calls.programs() == ["postgres --single"], "a second cold prepare must not run initdb"
    assert "copied from pg template" in second.log_text()
    assert templates(tmp) == [template] and template.stat().st_ino == inode
    st = second.data.stat()
    assert st.st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        owner = runners.pwd.getpwnam(runners.PG_USER).pw_uid
        assert {p.stat().st_uid for p in [second.data, *second.data.rglob("*")]} == {owner}
    with second.running():
        with second.connect() as conn:
            assert conn.execute("select current_database(), current_user").fetchone() == (
                second.env["POSTGRES_DB"], second.env["POSTGRES_USER"])


def test_project_password_works_and_throwaway_does_not(primed, calls):
    project = Project(primed / "b")
    project.prepare()
    assert calls.programs() == ["postgres --single"]
    with project.running():
        with project.connect() as conn:
            row = conn.execute("select rolsuper, left(rolpassword, 14) from pg_authid where rolname = current_user").fetchone()
            assert row == (True, "SCRAM-SHA-256$")
            enc = conn.execute("select pg_encoding_to_char(encoding), datcollate, datctype from pg_database "
                               "where datname = current_database()").fetchone()
            assert enc == ("UTF8", "C", "C")
            hba = conn.execute("select type, auth_method from pg_hba_file_rules").fetchall()
            assert {t for t, _ in hba} == {"local", "host"} and {m for _, m in hba} == {"scram-sha-256"}
        for db in (project.env["POSTGRES_DB"], "postgres"):
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                project.connect(password=THROWAWAY, db=db)


def test_a_different_postgres_user_gets_its_own_template(primed, calls):
    other = Project(primed / "b", user="other_admin", db="other_db")
    other.prepare()
    assert calls.programs() == ["initdb", "postgres --single"], "a different superuser must not reuse a template"
    assert "pg template built" in other.log_text() and "failed" not in other.log_text()
    assert len(templates(primed)) == 2
    with other.running():
        with other.connect() as conn:
            supers = [r[0] for r in conn.execute("select rolname from pg_roles where rolsuper")]
            assert supers == ["other_admin"]
        with pytest.raises(psycopg.OperationalError):
            other.connect(user="inventario")


def test_partial_template_is_rebuilt_not_used(primed, calls):
    [template] = templates(primed)
    (template / "PG_VERSION").unlink()  # what a half-written or damaged template looks like
    project = Project(primed / "b")
    project.prepare()
    assert "initdb" in calls.programs()
    assert "incomplete or damaged; rebuilding" in project.log_text()
    assert (template / "PG_VERSION").is_file()
    with project.running():
        with project.connect() as conn:
            assert conn.execute("select 1").fetchone() == (1,)


def test_failed_copy_discards_the_template_and_rebuilds(primed, calls, monkeypatch):
    real = pgtemplate._copy_tree
    failures = []

    def copy_fails_once(src, dst, owner):
        if not failures and src.parent.name == "pg-template":
            failures.append(src)
            real(src, dst, owner)
            (dst / "global" / "pg_control").unlink()  # a copy that stopped half way
            raise pgtemplate.TemplateError("simulated short copy")
        return real(src, dst, owner)

    monkeypatch.setattr(pgtemplate, "_copy_tree", copy_fails_once)
    project = Project(primed / "b")
    project.prepare()
    assert failures and "initdb" in calls.programs()
    assert "copying pg template" in project.log_text()
    with project.running():
        with project.connect() as conn:
            assert conn.execute("select 1").fetchone() == (1,)


def test_unusable_cache_falls_back_to_plain_initdb_with_the_same_cluster(primed, calls, monkeypatch):
    tmp = primed
    cached = Project(tmp / "a")
    cached.prepare()
    (tmp / "not-a-dir").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp / "not-a-dir"))  # mkdir fails, even as root
    calls.reset()
    plain = Project(tmp / "b")
    plain.prepare()
    assert calls.programs() == ["initdb", "postgres --single"]
    assert "running plain initdb" in plain.log_text()
    # the copy is the cluster initdb makes: same config files, byte for byte
    for rel in ("pg_hba.conf", "pg_ident.conf", "postgresql.conf", "PG_VERSION"):
        assert (cached.data / rel).read_bytes() == (plain.data / rel).read_bytes(), rel
    with plain.running():
        with plain.connect() as conn:
            assert conn.execute("select current_user").fetchone() == (plain.env["POSTGRES_USER"],)


def test_concurrent_cold_prepares_build_one_template(tmp, calls):
    projects = [Project(tmp / name) for name in ("a", "b")]
    errors = []

    def prepare(project):
        try:
            project.prepare()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=prepare, args=(p,)) for p in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert calls.programs().count("initdb") == 1
    assert len(templates(tmp)) == 1
    assert [p.name for p in (tmp / "cache" / "stagectl" / "pg-template").iterdir() if p.name.startswith(".")] == []
    for project in projects:
        assert (project.data / "PG_VERSION").is_file()


def test_password_never_in_argv_template_files_or_leftovers(tmp, calls):
    # built here, not primed: the template must be made while this test watches
    seen: list[str] = []
    stop = threading.Event()
    projects = [Project(tmp / "a"), Project(tmp / "b")]
    needles = [p.env["POSTGRES_PASSWORD"].encode() for p in projects]

    def watch_ps():  # what `ps` could show while the setup programs run
        while not stop.is_set():
            for entry in Path("/proc").iterdir():
                with contextlib.suppress(OSError):
                    if entry.name.isdigit():
                        cmdline = (entry / "cmdline").read_bytes()
                        if any(n in cmdline for n in needles) or b"SCRAM-SHA-256$" in cmdline:
                            seen.append(cmdline.decode(errors="replace"))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch_ps)
    watcher.start()
    try:
        for project in projects:
            project.prepare()
    finally:
        stop.set()
        watcher.join(10)
    assert seen == []
    joined_argv = "\0".join(a for argv in calls.argvs for a in argv)
    assert all(n.decode() not in joined_argv for n in needles) and "SCRAM-SHA-256$" not in joined_argv
    # the plain password goes nowhere (a SCRAM verifier through stdin); the template holds neither
    assert all(n.decode() not in s for n in needles for s in calls.stdins)
    files = [f for f in (tmp / "cache").rglob("*") if f.is_file()]
    files += [f for p in projects for f in p.root.rglob("*") if f.is_file()]
    assert len(files) > 500
    for path in files:
        blob = path.read_bytes()
        assert not any(n in blob for n in needles), path
    for project in projects:
        assert not (project.ctx.state_dir / "run" / "pg.pw").exists()
    [template] = templates(tmp)
    with projects[1].running():  # the project's verifier is in the copy, never in the template
        with projects[1].connect() as conn:
            verifier = conn.execute("select rolpassword from pg_authid where rolname = current_user").fetchone()[0]
    assert all(verifier.encode() not in f.read_bytes() for f in template.rglob("*") if f.is_file())


def test_a_failing_statement_fails_prepare_without_showing_the_secret(primed, calls):
    project = Project(primed / "a", db="template1")  # CREATE DATABASE of an existing name fails
    with pytest.raises(RuntimeError, match="already exists") as failed:
        project.prepare()
    assert project.env["POSTGRES_PASSWORD"] not in str(failed.value)
    assert "SCRAM-SHA-256$" not in str(failed.value) and "SCRAM-SHA-256$" not in project.log_text()
    assert project.env["POSTGRES_PASSWORD"] not in project.log_text()


def test_a_failed_alter_role_is_masked_in_the_error(primed):
    project = Project(primed / "a")
    project.prepare()
    password = project.env["POSTGRES_PASSWORD"]
    # a role that does not exist makes PostgreSQL echo the ALTER ROLE statement, verifier and all
    with pytest.raises(RuntimeError, match="does not exist") as failed:
        runners._pg_finish(postgres_bindir(), project.data, project.launch.user, "nobody_here", "postgres", password)
    message = str(failed.value)
    assert "ALTER ROLE" in message and "***" in message
    assert "SCRAM-SHA-256$" not in message and password not in message


def _spare_of(project: Project) -> Path:
    [template] = templates(project.root.parent)
    return datahome.pg_home(project.ctx.state_dir) / "cache" / "pg-spare" / template.name


def test_a_spare_copy_made_after_up_is_taken_by_rename_on_the_next_cold_start(primed, calls):
    """Fault: the next cold start copying ~1000 files on its critical path although a copy was
    made ahead, or a taken spare that is not a working cluster for this project."""
    project = Project(primed / "b")
    project.prepare()
    spare = _spare_of(project)
    assert not spare.exists()  # nothing is copied during the start itself
    project.launch.after_up()  # what the supervisor runs once the stack is healthy
    assert (spare / "PG_VERSION").is_file()
    made_ahead = spare.stat().st_ino
    shutil.rmtree(project.data)  # what `down --volumes` does; the spare lives outside data/
    calls.reset()
    project.prepare()
    assert project.data.stat().st_ino == made_ahead and not spare.exists()  # renamed into place, not copied
    assert calls.programs() == ["postgres --single"] and "made ahead" in project.log_text()
    assert oct(project.data.stat().st_mode & 0o777) == "0o700"
    with project.running():
        with project.connect() as conn:
            assert conn.execute("select current_database()").fetchone() == (project.env["POSTGRES_DB"],)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            project.connect(password=THROWAWAY)
    project.launch.after_up()
    assert (spare / "PG_VERSION").is_file() and spare.stat().st_ino != made_ahead  # the next one


def test_an_incomplete_spare_is_removed_not_taken(primed, calls):
    project = Project(primed / "b")
    spare_root = datahome.pg_home(project.ctx.state_dir) / "cache" / "pg-spare"
    [template] = templates(primed)
    (spare_root / template.name / "base").mkdir(parents=True)  # no PG_VERSION: a copy cut short
    project.prepare()
    assert "is incomplete; removing it" in project.log_text()
    assert not (spare_root / template.name).exists()
    assert (project.data / "PG_VERSION").is_file()
    with project.running():
        with project.connect() as conn:
            assert conn.execute("select 1").fetchone() == (1,)


def test_failing_after_up_work_is_logged_in_the_service_log_not_fatal(tmp_path):
    """Fault: a failing background copy killing the supervisor's thread silently."""
    from stagectl.backends.local.supervisor import Supervisor

    seen = []
    sup = Supervisor.__new__(Supervisor)  # only what _after_up touches
    sup.ctx = runners.RunnerContext(Stack(version=1, project="x", services={}), {}, tmp_path, tmp_path / "state")
    launch = runners.Launch(["true"], {}, signal.SIGTERM, 1.0, after_up=lambda: seen.append("ran") or 1 / 0)
    sup._after_up("postgres", launch)
    assert seen == ["ran"]
    assert "after-up work of postgres failed: ZeroDivisionError" in (tmp_path / "state" / "logs" / "postgres.log").read_text()


def test_a_kept_cluster_follows_changed_secrets_and_database(primed, calls):
    """A data dir kept from a run under other secrets (a fresh clone at the same path gets new
    ones from `stagectl init`) must take the env file's password and database, not refuse logins."""
    project = Project(primed / "b")
    project.prepare()
    old_password = project.env["POSTGRES_PASSWORD"]
    with project.running(), project.connect() as conn:
        conn.execute("create table kept (v int)")
        conn.execute("insert into kept values (7)")
        conn.commit()

    calls.reset()
    project.reconfigure(POSTGRES_PASSWORD="new-" + secrets.token_urlsafe(16))
    project.prepare()
    # single-user steps: the password, then the database (which exists: tolerated)
    assert calls.programs() == ["postgres --single", "postgres --single"]
    assert "password from the env file" in project.log_text()
    with project.running():
        with project.connect() as conn:
            assert conn.execute("select v from kept").fetchall() == [(7,)], "the kept data must survive"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            project.connect(password=old_password)

    calls.reset()
    project.reconfigure(POSTGRES_DB="another_db")
    project.prepare()
    assert calls.programs() == ["postgres --single", "postgres --single"]
    with project.running(), project.connect() as conn:
        assert conn.execute("select current_database()").fetchone() == ("another_db",)


def test_a_kept_cluster_with_unchanged_secrets_starts_without_setup(primed, calls):
    project = Project(primed / "b")
    project.prepare()
    calls.reset()
    project.reconfigure()
    project.prepare()
    assert calls.programs() == [], "unchanged secrets: the marker says the set-up is done"
    (project.data / runners.SUPERUSER_MARKER).unlink()  # a cluster made before the marker existed
    project.reconfigure()
    project.prepare()
    assert calls.programs() == ["postgres --single", "postgres --single"], "no marker: set the password, ensure the database"
    with project.running(), project.connect() as conn:
        assert conn.execute("select current_user").fetchone() == (project.env["POSTGRES_USER"],)
