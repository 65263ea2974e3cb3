"""Run state of one project: `.stagectl/<project>/state.json`.

Two locks, both `fcntl.flock` (released by the kernel when the holder dies, so a kill -9 never
leaves a stale lock):
- `op.lock` is held by a CLI `up`/`down` for the whole operation; a second one fails fast with
  "project locked by pid N";
- `state.lock` guards each short read-modify-write of state.json, which the detached supervisor
  and the CLI both do. Writes are atomic (temp file + rename), so readers never see half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from stagectl.errors import PreflightError

STATE_VERSION = 1


def config_hash(payload: Any) -> str:
    """A stable hash of the resolved stack + env: `up` is a no-op when it has not changed."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def owner_alive(state: dict) -> bool:
    """True when the supervisor recorded in `state` is still that same, live process."""
    pid = state.get("owner_pid")
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        created = state.get("owner_create_time")
        if created is not None and abs(proc.create_time() - created) > 0.05:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class StateStore:
    """Reads and atomically updates the state file of one project's state directory."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.path = self.dir / "state.json"

    @contextlib.contextmanager
    def _flock(self, name: str, *, blocking: bool) -> Iterator[int]:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            yield fd
        finally:
            os.close(fd)  # closing releases the flock

    @contextlib.contextmanager
    def operation_lock(self) -> Iterator[None]:
        """Exclusive right to run `up`/`down` on this project. Raises PreflightError (exit 4)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "op.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise PreflightError(
                    f"project locked by pid {holder} (another stagectl up/down is running)",
                    hint="wait for it to finish, or stop it",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def read(self) -> dict | None:
        """The current state, or None when there is none (or it is unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, state: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write(self, state: dict) -> None:
        """Replace the whole state atomically."""
        with self._flock("state.lock", blocking=True):
            self._write({**state, "version": STATE_VERSION})

    def update(self, change: Callable[[dict], None]) -> dict:
        """Read-modify-write under the state lock; `change` mutates the dict in place."""
        with self._flock("state.lock", blocking=True):
            state = self.read() or {"version": STATE_VERSION, "services": {}}
            change(state)
            self._write(state)
            return state

    def update_service(self, name: str, **fields: Any) -> dict:
        """Merge `fields` into one service's record."""

        def change(state: dict) -> None:
            state.setdefault("services", {}).setdefault(name, {}).update(fields)

        return self.update(change)

    def remove(self) -> None:
        with self._flock("state.lock", blocking=True):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
