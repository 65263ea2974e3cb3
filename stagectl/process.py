# Over ~350 lines on purpose: every rule of process hygiene in one module, so each child is started and stopped alike.
"""Process hygiene for every child stagectl starts.

- one session / process group per service, so a signal reaches the whole tree;
- output goes to a per-service log *file* (never a pipe: an escaped grandchild holding a pipe
  would make teardown hang), kept bounded by copy-truncate;
- PR_SET_PDEATHSIG, so a SIGKILLed supervisor does not leave services behind. The kernel fires it
  when the *thread* that forked the child exits, so every spawn goes through one long-lived
  thread (`Spawner`);
- STAGECTL_RUN_ID in every child's environment, so a sweep finds escaped descendants;
- stop = SIGCONT (a SIGSTOPped child could not run its handler) → stop signal → grace → SIGKILL.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import errno
import os
import pwd
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

RUN_ID_VAR = "STAGECTL_RUN_ID"
LOG_LIMIT_BYTES = 8 * 1024 * 1024  # per service log; the tail is kept in <log>.1
_PR_SET_PDEATHSIG = 1

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: no parent-death signal; the state file + `down` still clean up
    _libc = None


def _pdeathsig(sig: int):
    def pre_exec() -> None:
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return pre_exec


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    run_id: str,
    cwd: Path | None = None,
    user: str | None = None,
    death_signal: int = signal.SIGTERM,
    stdin: int = subprocess.DEVNULL,
) -> subprocess.Popen:
    """Start `argv` in its own session with output appended to `log_path`.

    Call this only from a thread that lives as long as the child should (see `Spawner`).
    `stdin=subprocess.PIPE` is for a prewarmed child that waits for its go (see `PREWARM_BOOT`).
    """
    child_env = {**env, RUN_ID_VAR: run_id}
    # O_APPEND: copy-truncate keeps working while the child writes
    with os.fdopen(open_private(log_path, os.O_WRONLY | os.O_APPEND), "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=str(cwd) if cwd else None,
            **as_user(user),
            start_new_session=True,
            preexec_fn=_pdeathsig(death_signal),  # runs after setreuid: survives user=
            close_fds=True,
            umask=0o077,  # what a service writes (Redis' AOF holds sessions) is its own: 0600/0700
        )


def as_user(user: str | None) -> dict:
    """Popen arguments that run a child as `user` with that user's own groups: `user=` alone
    changes only the uid, and the child would keep root's group (gid 0) and root's groups."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": os.getgrouplist(user, entry.pw_gid)}


def private_dir(path: Path, *, mode: int = 0o700) -> Path:
    """`path` (and missing parents) as a directory; `path` itself gets `mode` (0700: only its owner)."""
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise OSError(errno.ELOOP, "a symlink where a private directory goes", str(path))
    os.chmod(path, mode)
    return path


def open_private(path: Path, flags: int, *, dir_mode: int = 0o700) -> int:
    """Open (create) a 0600 file in a private directory, never through a symlink (O_NOFOLLOW):
    a link planted where a log or secret goes fails with ELOOP instead of writing elsewhere."""
    private_dir(path.parent, mode=dir_mode)
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file made under a looser umask
    except OSError:
        os.close(fd)
        raise
    return fd


# A Python service whose imports take seconds (the dashboard: ~1–2 s of interpreter start and
# imports on these machines) is started early with this bootstrap: it imports the modules named in
# argv[1], and calls `module:function` entries after importing them (a service's own warm-up: it
# may read its environment and build objects, but connects to nothing), then blocks on stdin. Only
# the go byte, sent once its dependencies are healthy, lets it run `python -m <argv[2]>
# <argv[3:]...>` exactly as a plain start would. EOF (the supervisor gave up) exits quietly; a
# failing import or warm-up exits 1 with the traceback in the service's log, which the wait engine
# reports as a crash once the service is due.
PREWARM_BOOT = """\
import importlib, os, runpy, sys
for _entry in filter(None, sys.argv[1].split(",")):
    _module, _, _call = _entry.partition(":")
    _loaded = importlib.import_module(_module)
    if _call:
        getattr(_loaded, _call)()
if os.read(0, 1) != b"g":
    sys.exit(0)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def prewarm_argv(python: str, preload: Sequence[str], module: str, args: Sequence[str]) -> list[str]:
    """argv that imports `preload` (calling `module:function` entries), waits for the go byte on
    stdin, then runs `python -m module args`."""
    return [python, "-c", PREWARM_BOOT, ",".join(preload), module, *args]


def send_go(popen: subprocess.Popen) -> None:
    """Let a prewarmed child (see `PREWARM_BOOT`) run. A child that already died is left to the
    caller's exit check, which reports it as a crash."""
    if popen.stdin is None:  # not started with stdin=PIPE: nothing waits for the go
        return
    try:
        popen.stdin.write(b"g")
        popen.stdin.close()
    except (OSError, ValueError):
        pass


class Spawner:
    """A long-lived thread that performs every spawn, so PR_SET_PDEATHSIG fires only when the
    supervisor process itself dies (not when some short-lived worker thread finishes)."""

    def __init__(self) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="stagectl-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            future, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(spawn(**kwargs))
                except BaseException as exc:  # handed to the caller, who reports it
                    future.set_exception(exc)

    def spawn(self, **kwargs) -> subprocess.Popen:
        """Same arguments as `spawn`; blocks until the child exists (or raises its OSError)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.put((future, kwargs))
        return future.result()


def describe_exit(returncode: int) -> str:
    """'crashed (exit 1)' / 'killed by signal 9' for a Popen returncode."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {-returncode} ({name})"
    return f"crashed (exit {returncode})"


def process_matches(pid: int, create_time: float | None) -> bool:
    """True when `pid` is alive, not a zombie, and (if given) is the same process we recorded."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.05:
            return False  # the pid was reused by an unrelated process
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group. A zombie still answers kill(0)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def signal_tree(pid: int, pgid: int, sig: int) -> None:
    """Deliver `sig` to a service's process group and to every descendant that left it.

    PostgreSQL's backends call setsid() so that signals meant for the postmaster's group do not
    reach them; a chaos `freeze` (SIGSTOP) sent to the group alone would leave the pooled
    connections serving queries. Raises ProcessLookupError when the group is gone."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    os.killpg(pgid, sig)
    for child in descendants:
        try:
            if os.getpgid(child.pid) != pgid:
                os.kill(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            continue


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(
    pgid: int,
    stop_signal: int = signal.SIGTERM,
    grace: float = 10.0,
    *,
    reap: subprocess.Popen | None = None,
    poll: float = 0.02,
    hurry: Callable[[], bool] = lambda: False,
) -> str:
    """Stop a process group: SIGCONT, `stop_signal`, wait `grace`, then SIGKILL.

    Returns 'gone' (nothing was running), 'stopped' (left within grace) or 'killed'.
    `reap` is our own Popen of the process that started the group, waited on so it does not linger as a zombie.
    `hurry()` turning true (a second Ctrl-C) cuts the grace period short.
    """

    def alive() -> bool:
        if reap is not None:
            reap.poll()
        return bool(group_members(pgid))

    if not alive():
        return "gone"
    _signal_group(pgid, signal.SIGCONT)
    _signal_group(pgid, stop_signal)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not hurry():
        if not alive():
            return "stopped"
        time.sleep(poll)
    _signal_group(pgid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 2.0
    while time.monotonic() < kill_deadline and alive():
        time.sleep(poll)
    return "killed"


def kill_group_now(pgid: int) -> None:
    """Second Ctrl-C: no grace."""
    _signal_group(pgid, signal.SIGCONT)
    _signal_group(pgid, signal.SIGKILL)


def pids_with_run_id(run_id: str) -> list[int]:
    """Processes whose start environment carries STAGECTL_RUN_ID=run_id (escaped descendants)."""
    marker = f"{RUN_ID_VAR}={run_id}".encode()
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            if marker in environ.split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def sweep_run_id(run_id: str, *, exclude: Sequence[int] = ()) -> list[int]:
    """SIGKILL every live process carrying `run_id`; returns the pids it found."""
    found = [pid for pid in pids_with_run_id(run_id) if pid not in exclude]
    for pid in found:
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


def truncate_log(log_path: Path, limit: int = LOG_LIMIT_BYTES) -> bool:
    """Copy-truncate a log that grew past `limit`: keep the newest half in <log>.1, empty the file.

    Children write with O_APPEND, so after truncation their next write lands at the new end.
    """
    try:
        size = log_path.stat().st_size
    except FileNotFoundError:
        return False
    if size <= limit:
        return False
    with open(log_path, "rb") as src:
        src.seek(max(0, size - limit // 2))
        tail = src.read(limit // 2)
    with os.fdopen(open_private(Path(f"{log_path}.1"), os.O_WRONLY | os.O_TRUNC), "wb") as rotated:
        rotated.write(tail)
    os.truncate(log_path, 0)
    return True


def tail_lines(log_path: Path, n: int = 20) -> list[str]:
    """The last `n` lines of a (possibly large) log file."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-n:]


class DetachedChild:
    """A child made by `fork_detached`: the part of `subprocess.Popen` the local backend uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: it is gone either way
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if timeout is not None and deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_detached(run: Callable[[], int], *, title: str, log_path: Path, env: Mapping[str, str]) -> DetachedChild:
    """Run `run()` in a forked child in its own session (stdin /dev/null, stdout and stderr
    appended to `log_path`, `env` added to its environment, `title` as its command line in `ps`:
    it would otherwise show the CLI's); the child ends with `os._exit`.

    Fork instead of starting a new interpreter: the caller has already imported what the child
    needs, and `python -m` + those imports cost ~0.35 s before the first service could start.
    In the child every inherited descriptor above 2 is closed (a harness reading the CLI's
    output through a pipe must see EOF when the CLI exits, and the CLI's project lock must not
    outlive it) and the objects that owned them are frozen out of the garbage collector, so no
    stale file object can later close a descriptor number the child has reused.
    """
    import gc

    private_dir(log_path.parent)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # or the child would write the parent's buffered output again
    pid = os.fork()
    if pid:
        return DetachedChild(pid)
    code = 70
    try:
        gc.freeze()
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        out = open_private(log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        # fresh stream objects: a lock held at fork time by another thread of the parent
        # (e.g. rich's refresh thread writing to stdout) stays held in the child's copies
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 — lives as long as the child
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        os.environ.update(env)
        import setproctitle

        setproctitle.setproctitle(title)
        code = run()
    except BaseException:  # noqa: BLE001 — reported in its log; the child must never return
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(code)
