"""Real dependency processes for the dashboard's integration tests (loopback, free ports, temp
dirs, always stopped). Each ``Proc`` can be stopped and started again on the same port, which
is how the chaos tests take a dependency away and bring it back."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    """Poll ``check`` every 50 ms for at most ``timeout`` s; fail early when ``proc`` exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.popen.returncode}\n{proc.log_tail()}")
        try:
            if check():
                return
        except Exception:   # not ready yet: connection refused and the like
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s\n{proc.log_tail() if proc else ''}")


class Proc:
    """One child process in its own session, logging to a file; stop() is SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_path: Path, ready: Callable[[], bool],
                 env: dict | None = None, user: str | None = None, cwd: str | None = None):
        self.name, self.argv, self.log_path, self.ready = name, argv, log_path, ready
        self.env, self.user, self.cwd = env, user, cwd
        self.popen: subprocess.Popen | None = None
        self.cleanup_dirs: list[Path] = []

    def start(self, timeout: float = 20) -> Proc:
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                      user=self.user, cwd=self.cwd, start_new_session=True)
        log.close()
        try:
            wait_until(self.ready, timeout, self.name, self)
        except BaseException:
            self.close()   # never leave a half-started process behind
            raise
        return self

    def close(self) -> None:
        """Stop for good and remove the process's own directories."""
        self.stop()
        for path in self.cleanup_dirs:
            shutil.rmtree(path, ignore_errors=True)

    def stop(self, grace: float = 5) -> None:
        if self.popen is None or self.popen.poll() is not None:
            self.popen = None
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        self.popen = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def postgres(tmp: Path, password: str, db: str = "inventario_test", user: str = "inventario") -> tuple[Proc, dict]:
    """initdb (as OS user postgres, into a dir it owns) and a server on a free loopback port."""
    # Own dir under /tmp: pytest's tmp dirs are 0700 root-only and the server runs as "postgres".
    root = Path(tempfile.mkdtemp(prefix="dashboard-pg-"))
    os.chmod(root, 0o755)
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    for path in (root, sock, pwfile):
        shutil.chown(path, "postgres")
    subprocess.run(["initdb", "-D", str(data), "-U", user, f"--pwfile={pwfile}", "-A", "scram-sha-256",
                    "-E", "UTF8", "--locale=C", "--no-sync"], user="postgres", check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    port = free_port()
    info = {"host": "127.0.0.1", "port": port, "user": user, "password": password, "dbname": db}

    def ready() -> bool:
        with psycopg.connect(**{**info, "dbname": "postgres"}, connect_timeout=1) as conn:
            conn.execute("select 1")
        return True
    proc = Proc("postgres", ["postgres", "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(sock),
                             "-c", "fsync=off", "-c", "logging_collector=off"],
                tmp / "postgres.log", ready, user="postgres", cwd=str(root))
    proc.cleanup_dirs.append(root)
    proc.start()
    with psycopg.connect(**{**info, "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    return proc, info


def redis(tmp: Path, password: str) -> tuple[Proc, dict]:
    import redis as redis_lib
    port = free_port()
    (tmp / "redis").mkdir()

    def ready() -> bool:
        return redis_lib.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1).ping()
    proc = Proc("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--requirepass", password, "--dir", str(tmp / "redis")],
                tmp / "redis.log", ready).start()
    return proc, {"host": "127.0.0.1", "port": port, "password": password}


def moto(tmp: Path) -> tuple[Proc, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Proc("moto", [shutil.which("moto_server") or "moto_server", "-H", "127.0.0.1", "-p", str(port)],
                tmp / "moto.log", lambda: httpx.get(url + "/moto-api/", timeout=1).status_code < 500).start()
    return proc, url


def llm_stub(tmp: Path, api_key: str) -> tuple[Proc, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OPENAI_API_KEY": api_key, "LLM_STUB_MODE": "normal"}
    proc = Proc("llm-stub", [sys.executable, "-m", "inventario_dashboard.llm_stub", "--host", "127.0.0.1",
                             "--port", str(port)], tmp / "llm.log",
                lambda: httpx.get(url + "/health", timeout=1).status_code == 200, env=env).start()
    return proc, url


class Dashboard:
    """The dashboard as a real uvicorn process (exactly how stagectl runs it), with its env."""

    def __init__(self, tmp: Path, env: dict[str, str], name: str = "dashboard"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = env["DASHBOARD_API_KEY"]
        self.log_file = tmp / f"{name}.jsonl"
        full_env = {**os.environ, **env, "LOG_FILE": str(self.log_file)}
        self.proc = Proc(name, [sys.executable, "-m", "uvicorn", "inventario_dashboard.app:create_app",
                                "--factory", "--host", "127.0.0.1", "--port", str(self.port),
                                "--no-proxy-headers", "--loop", "uvloop", "--http", "httptools"],
                         tmp / f"{name}.stderr.log",
                         lambda: httpx.get(self.url + "/health/live", timeout=1).status_code == 200,
                         env=full_env)

    def start(self) -> Dashboard:
        self.proc.start(timeout=30)
        return self

    def stop(self) -> None:
        self.proc.stop(grace=10)

    def client(self, key: str | None = "valid", **kwargs) -> httpx.Client:
        headers = {}
        if key == "valid":
            headers["X-API-Key"] = self.api_key
        elif key:
            headers["X-API-Key"] = key
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)
