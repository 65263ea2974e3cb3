# Over ~350 lines on purpose: the CLI side of every Backend operation on the local stack, each a short hand-off to the supervisor.
"""The local backend: the stack as processes on 127.0.0.1, held by a detached supervisor.

The CLI side (this module) checks, hands a plan to the supervisor, follows its progress in the
state file, and for `down` asks it to stop and then verifies nothing is left. It never prints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

import stagectl
from stagectl import logstream
from stagectl.backends.base import BackendContext, DownResult, LogLine, ServiceStatus, UpResult
from stagectl.backends.local import datahome, promconfig
from stagectl.backends.local.logrotate import rotate_run_logs
from stagectl.backends.local.preflight import check_ports, plan_services
from stagectl.backends.local.privileges import PG_USER, check_reachable_by
from stagectl.backends.local.runners import probe_headers
from stagectl.backends.local.supervisor import PLAN_NAME
from stagectl.backends.local.supervisor import main as supervisor_main
from stagectl.errors import StagectlError, TeardownError, UnhealthyError
from stagectl.health.probes import build_probe
from stagectl.health.verdict import unhealthy_error
from stagectl.process import (
    RUN_ID_VAR,
    DetachedChild,
    fork_detached,
    kill_group_now,
    process_matches,
    signal_tree,
    stop_group,
    sweep_run_id,
    tail_lines,
)
from stagectl.services import check_names, dependency_closure
from stagectl.state import StateStore, config_hash, owner_alive

Progress = Callable[[dict], None]


class LocalBackend:
    """`Backend` for local processes (see stagectl/backends/base.py)."""

    name = "local"
    prometheus_rules_ref = None  # Prometheus runs on this host and reads host paths

    def __init__(self, ctx: BackendContext):
        self.ctx = ctx
        self.store = StateStore(ctx.state_dir)

    # --- helpers -------------------------------------------------------------------------------
    def _hash(self, names: list[str]) -> str:
        return config_hash({"stack": self.ctx.stack.model_dump(), "env": dict(self.ctx.env),
                            "root": str(self.ctx.root), "services": names})

    @property
    def prometheus_config(self) -> Path:
        """The config the local Prometheus reads (written at its start, in the service home)."""
        return promconfig.config_path(self.ctx.state_dir)

    def log_path(self, service: str) -> Path:
        return self.ctx.state_dir / "logs" / f"{service}.log"

    def preflight(self) -> dict[str, str]:
        names, skipped = self._plan()
        check_ports(self.ctx.stack, names)
        return skipped

    def _plan(self) -> tuple[list[str], dict[str, str]]:
        names, skipped = plan_services(self.ctx.stack, self.ctx.root)
        if os.geteuid() == 0:
            for name in names:
                if self.ctx.stack.services[name].runner == "postgres":
                    check_reachable_by(PG_USER, datahome.pg_home(self.ctx.state_dir) / "data" / name)
        return names, skipped

    # --- up ----------------------------------------------------------------------------------------
    def up(self, *, wait_timeout: float, on_progress: Progress | None = None,
           services: list[str] | None = None) -> UpResult:
        """Start in dependency order and wait for health (see the module docstring); `services`:
        only these and their dependencies."""
        t0 = time.monotonic()
        with self.store.operation_lock():
            state = self.store.read()
            names, skipped = self._plan()
            if services:
                wanted_names = dependency_closure(self.ctx.stack, services)
                names = [n for n in names if n in wanted_names]
            wanted = self._hash(names)
            if state and owner_alive(state):
                if state.get("phase") == "up" and state.get("config_hash") == wanted and self._all_alive(state):
                    return UpResult(self.status(probe=False), 0.0, unchanged=True, skipped=skipped)
                self._stop_owner(state)  # config changed (or a half-finished run): replace it
            elif state:
                self._reap_stale(state)
            check_ports(self.ctx.stack, names)
            return self._start(names, skipped, wanted, wait_timeout, on_progress, t0)

    def _all_alive(self, state: dict) -> bool:
        return all(process_matches(rec.get("pid") or 0, rec.get("create_time"))
                   for rec in state.get("services", {}).values())

    def _start(self, names, skipped, wanted, wait_timeout, on_progress, t0) -> UpResult:
        run_id = uuid.uuid4().hex[:12]
        stack = self.ctx.stack
        # this stack's checks read only this stack's lines (the dashboard's JSON log sits in the
        # service home when running as root, see datahome)
        for logs in dict.fromkeys((self.ctx.state_dir / "logs", datahome.service_home(self.ctx.state_dir) / "logs")):
            rotate_run_logs(logs)
        self.store.write({"run_id": run_id, "config_hash": wanted, "phase": "launching", "skipped": skipped,
                          "project": stack.project, "root": str(self.ctx.root),
                          "services": {n: {"phase": "pending", "port": stack.services[n].port,
                                           "log": str(self.log_path(n))} for n in names}})
        plan = {"run_id": run_id, "stack": stack.model_dump(mode="json"), "env": dict(self.ctx.env),
                "root": str(self.ctx.root), "services": names, "wait_timeout": wait_timeout}
        run_dir = self.ctx.state_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / PLAN_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(plan, fh)
        supervisor = self._spawn_supervisor(run_id)
        try:
            final = self._follow(supervisor, wait_timeout, on_progress)
        except KeyboardInterrupt:
            self._interrupt(supervisor)
            raise
        finally:
            (run_dir / PLAN_NAME).unlink(missing_ok=True)  # normally the supervisor already did
        if final.get("phase") != "up":
            raise self._failure(final)
        statuses = self.status(probe=False)
        return UpResult(statuses, round(time.monotonic() - t0, 3), skipped=skipped)

    def _spawn_supervisor(self, run_id: str) -> DetachedChild:
        """The supervisor, forked from this process (see `fork_detached`: ~0.35 s sooner than a
        new interpreter) into its own session, so `up` can return while it holds the stack."""
        package_root = str(Path(stagectl.__file__).resolve().parent.parent)
        env = {"PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
               RUN_ID_VAR: run_id}
        state_dir = str(self.ctx.state_dir)
        return fork_detached(lambda: supervisor_main(["supervisor", state_dir]),
                             title=f"stagectl supervisor {state_dir}", log_path=self.ctx.state_dir / "logs" / "supervisor.log", env=env)

    def _follow(self, supervisor: DetachedChild, wait_timeout: float, on_progress: Progress | None) -> dict:
        """Poll the state file until the stack is up or the supervisor has exited (bounded)."""
        deadline = time.monotonic() + wait_timeout + 120  # wait + the longest teardown we allow
        while time.monotonic() < deadline:
            state = self.store.read() or {}
            if on_progress:
                on_progress(state)
            if state.get("phase") == "up":
                return state
            if supervisor.poll() is not None:
                return self.store.read() or {}
            time.sleep(0.05)
        self._interrupt(supervisor, kill=True)
        raise UnhealthyError(f"the supervisor did not finish within {wait_timeout + 120:.0f}s; stopped it")

    def _interrupt(self, supervisor: DetachedChild, kill: bool = False) -> None:
        """Ctrl-C while waiting: the supervisor tears down; a second Ctrl-C makes it kill."""
        supervisor.send_signal(signal.SIGTERM)
        if kill:
            supervisor.send_signal(signal.SIGTERM)
        while True:
            try:
                supervisor.wait(timeout=60)
                break
            except KeyboardInterrupt:
                supervisor.send_signal(signal.SIGTERM)  # second interrupt → no grace
            except subprocess.TimeoutExpired:
                supervisor.kill()
        state = self.store.read() or {}
        if state.get("run_id"):
            sweep_run_id(state["run_id"])
        self.store.remove()

    def _failure(self, state: dict) -> StagectlError:
        error = state.get("error") or {}
        if not error:
            tail = "\n".join(tail_lines(self.ctx.state_dir / "logs" / "supervisor.log", 20))
            return UnhealthyError(f"the supervisor exited before the stack was up:\n{tail}")
        self.store.remove()  # everything was torn down; nothing to reap later
        return unhealthy_error(error, full_log=lambda root: f"full log: {self.log_path(root) if root else 'supervisor.log'}")

    # --- status / logs / signal ------------------------------------------------------------------
    def status(self, probe: bool = True) -> list[ServiceStatus]:
        state = self.store.read()
        stack = self.ctx.stack
        if not state:
            return [ServiceStatus(n, "stopped", False, None, s.port) for n, s in stack.services.items()]
        stale = not owner_alive(state) and state.get("phase") not in ("stopped",)
        rows = []
        for name, svc in stack.services.items():
            rec = state.get("services", {}).get(name)
            if rec is None:
                reason = state.get("skipped", {}).get(name, "")
                rows.append(ServiceStatus(name, "skipped" if reason else "stopped", False, None, svc.port, detail=reason))
                continue
            pid, alive = rec.get("pid"), process_matches(rec.get("pid") or 0, rec.get("create_time"))
            if stale:
                rows.append(ServiceStatus(name, "stale", False, pid, svc.port, rec.get("ready_s"),
                                          "owner (supervisor) is gone" + ("; process still running" if alive else "")))
                continue
            if not alive:
                stopped = not pid or rec.get("phase") == "stopped"  # `stagectl stop`: stopped, not exited
                rows.append(ServiceStatus(name, "stopped" if stopped else "exited", False, pid, svc.port, rec.get("ready_s"),
                                          rec.get("detail", "")))
                continue
            try:
                paused = psutil.Process(pid).status() == psutil.STATUS_STOPPED
            except psutil.Error:
                paused = False
            if paused:
                rows.append(ServiceStatus(name, "paused", False, pid, svc.port, rec.get("ready_s")))
                continue
            healthy = rec.get("phase") == "healthy"
            if probe:
                healthy = build_probe(svc.healthcheck, port=svc.port, env=self.ctx.env,
                                      headers=probe_headers(svc, self.ctx.env))().ok
            rows.append(ServiceStatus(name, "healthy" if healthy else "unhealthy" if probe else "running", healthy,
                                      pid, svc.port, rec.get("ready_s"), rec.get("last_probe", "")))
        recs = state.get("services", {})
        return [dataclasses.replace(r, restarts=int((recs.get(r.name) or {}).get("restarts") or 0),
                                    started_at=(recs.get(r.name) or {}).get("create_time") if r.state in ("healthy", "unhealthy", "running", "paused") else None)
                for r in rows]

    def logs(self, service: str, *, tail: int | None = None, follow: bool = False) -> str:
        if service not in self.ctx.stack.services:
            raise StagectlError(f"unknown service {service!r}; known: {', '.join(self.ctx.stack.services)}")
        path = self.log_path(service)
        if not path.is_file():
            return ""
        return "\n".join(tail_lines(path, tail)) if tail else path.read_text(encoding="utf-8", errors="replace")

    def signal(self, service: str, sig: int) -> None:
        rec = ((self.store.read() or {}).get("services") or {}).get(service) or {}
        if not process_matches(rec.get("pid") or 0, rec.get("create_time")):
            raise StagectlError(f"service {service} is not running")
        if sig not in (signal.SIGSTOP, signal.SIGCONT, signal.SIGHUP):  # stopped on purpose: the restart policy leaves it down
            self.store.update_service(service, held=True)
        signal_tree(rec["pid"], rec["pgid"], sig)

    def start(self, service: str, *, wait_timeout: float) -> ServiceStatus:
        """Ask the supervisor (the children's parent, so PDEATHSIG stays right) to restart one
        stopped service, and wait until it is healthy. Raises UnhealthyError."""
        self._control({"start": service, "wait_timeout": wait_timeout}, service, wait_timeout + 15)
        return next(row for row in self.status() if row.name == service)

    def stop_service(self, service: str) -> ServiceStatus:
        """Stop one service (its stop signal and grace); the restart policy leaves it down."""
        grace = self.ctx.stack.services[service].stop_grace_period if service in self.ctx.stack.services else 10.0
        self._control({"stop": service}, service, grace + 15)
        return next(row for row in self.status(probe=False) if row.name == service)

    def up_services(self, services: list[str], *, wait_timeout: float) -> list[ServiceStatus]:
        """`up SERVICE…`: with the stack down, bring up these services and their dependencies only;
        with it up, start those of them (and their dependencies) that are not running."""
        state = self.store.read() or {}
        if not (owner_alive(state) and state.get("phase") == "up"):
            return self.up(wait_timeout=wait_timeout, services=services).services
        wanted = dependency_closure(self.ctx.stack, services)
        missing = [n for n in wanted if n not in state.get("services", {})]
        if missing:
            raise StagectlError(f"{', '.join(missing)} not part of the running stack",
                                hint="`stagectl down`, then `stagectl up " + " ".join(services) + "`")
        rows = {r.name: r for r in self.status(probe=False)}
        for wave in self.ctx.stack.start_order():
            for name in wave:
                if name in wanted and rows[name].state not in ("running", "healthy"):
                    self.start(name, wait_timeout=wait_timeout)
        return [r for r in self.status() if r.name in wanted]

    def exec_in(self, service: str, argv, *, interactive: bool = False) -> int:
        from stagectl.backends.local.execute import exec_in
        from stagectl.backends.local.runners import RunnerContext

        check_names(self.ctx.stack, [service])
        return exec_in(RunnerContext(self.ctx.stack, self.ctx.env, self.ctx.root, self.ctx.state_dir), service, argv)

    def log_lines(self, services, *, tail: int | None = None, since: float | None = None,
                  follow: bool = False) -> Iterator[LogLine]:
        names = list(services) or list(self.ctx.stack.services)
        check_names(self.ctx.stack, names)
        paths = {n: self.log_path(n) for n in names}
        yield from logstream.interleave([logstream.read_file_lines(n, p, tail=tail, since=since) for n, p in paths.items()])
        if follow:  # until the caller stops (Ctrl-C) or the stack is down
            yield from logstream.follow_files(paths, keep_going=lambda: self.store.read() is not None)

    def _control(self, request: dict, service: str, timeout: float) -> dict:
        """One request to the supervisor (run/control.json + SIGUSR1); its answer from the state file."""
        state = self.store.read() or {}
        if not owner_alive(state) or state.get("phase") != "up":
            raise StagectlError("the stack is not up; run `stagectl up`")
        if service not in state.get("services", {}):
            raise StagectlError(f"service {service!r} is not part of the running stack")
        request_id = uuid.uuid4().hex[:8]
        control = self.ctx.state_dir / "run" / "control.json"
        control.write_text(json.dumps({"id": request_id, **request}))
        os.kill(state["owner_pid"], signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = (self.store.read() or {}).get("control") or {}
            if answer.get("id") == request_id:
                if not answer.get("ok"):
                    verb = "stop" if "stop" in request else "restart"
                    raise UnhealthyError(f"{service}: {verb} failed: {answer.get('detail')}")
                return answer
            time.sleep(0.05)
        raise UnhealthyError(f"{service}: no answer from the supervisor within {timeout:.0f}s")

    # --- down --------------------------------------------------------------------------------------
    def down(self, *, volumes: bool = False) -> DownResult:
        with self.store.operation_lock():
            state = self.store.read()
            result = DownResult([], [], [])
            if state:
                result = self._stop_owner(state) if owner_alive(state) else self._reap_stale(state)
            if volumes:
                datahome.remove_volumes(self.ctx.state_dir)
            result = DownResult(result.stopped, result.killed, result.leftovers, volumes_removed=volumes)
            if result.leftovers:
                raise TeardownError(f"still running after down: {', '.join(result.leftovers)}",
                                    hint="kill them by hand (see `stagectl status`)")
            self.store.remove()
            return result

    def kill(self) -> None:
        """No grace (a second Ctrl-C during teardown): SIGKILL the supervisor and every service
        group, then sweep the run id. The state file stays, so a later `down` can verify."""
        state = self.store.read() or {}
        if owner_alive(state):
            os.kill(state["owner_pid"], signal.SIGKILL)
        for rec in (state.get("services") or {}).values():
            if rec.get("pid") and process_matches(rec["pid"], rec.get("create_time")):
                kill_group_now(rec.get("pgid", rec["pid"]))
        if state.get("run_id"):
            sweep_run_id(state["run_id"])

    def _stop_owner(self, state: dict) -> DownResult:
        """Ask the live supervisor to stop; verify; reap whatever it left."""
        owner = state["owner_pid"]
        os.kill(owner, signal.SIGTERM)
        graces = [rec.get("grace", 10.0) for rec in state.get("services", {}).values()]
        deadline = time.monotonic() + sum(graces) + 10
        while time.monotonic() < deadline and owner_alive(state):
            time.sleep(0.05)
        if owner_alive(state):
            os.kill(owner, signal.SIGTERM)  # second request: the supervisor kills without grace
            time.sleep(2.5)
        return self._reap_stale(self.store.read() or state, already_stopped=True)

    def _reap_stale(self, state: dict, already_stopped: bool = False) -> DownResult:
        stopped: list[str] = []
        killed: list[str] = []
        leftovers: list[str] = []
        for name, rec in state.get("services", {}).items():
            pid = rec.get("pid")
            if not pid:
                continue
            if process_matches(pid, rec.get("create_time")):
                how = stop_group(rec.get("pgid", pid), rec.get("stop_signal", signal.SIGTERM), rec.get("grace", 10.0))
                (killed if how == "killed" else stopped).append(name)
            elif already_stopped or rec.get("phase") != "stopped":
                stopped.append(name)
        if state.get("run_id"):
            sweep_run_id(state["run_id"])
            time.sleep(0.05)
        for name, rec in state.get("services", {}).items():
            if rec.get("pid") and process_matches(rec["pid"], rec.get("create_time")):
                leftovers.append(name)
        return DownResult(stopped, killed, leftovers)
