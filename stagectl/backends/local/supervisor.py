# Over ~350 lines on purpose: the supervisor process's whole life (plan, spawn, wait, hold, restart, teardown) in one place;
# the restart policy's arithmetic is in restarts.py.
"""The detached supervisor: `main()`, forked from `stagectl up` (see `LocalBackend._spawn_supervisor`),
or by hand as `python -m stagectl.backends.local.supervisor <state dir>`.

`stagectl up` must return to the shell while the stack keeps running, but children carry
PR_SET_PDEATHSIG, so their parent must outlive the CLI. This small process (own session) is that
parent: it reads the plan the CLI wrote (then deletes it: it holds secrets), spawns every service
from one long-lived thread, runs the wait engine, writes progress into the state file, starts each
service's `after_up` work in the background once all are healthy, and then holds the children
until it is asked to stop.

Signals: the first SIGTERM/SIGINT/SIGHUP stops the stack gracefully (reverse start order, SIGCONT
then stop signal, grace, SIGKILL); a second one cuts every grace period short (SIGKILL).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from stagectl.backends.local.restarts import Decision, RestartPolicy
from stagectl.backends.local.runners import Launch, RunnerContext, build_launch
from stagectl.config.model import Stack
from stagectl.health.probes import ProbeResult, build_probe
from stagectl.health.verdict import LOG_TAIL, failure_record
from stagectl.health.wait import Target, WaitEngine
from stagectl.process import (
    LOG_LIMIT_BYTES,
    Spawner,
    describe_exit,
    open_private,
    send_go,
    stop_group,
    sweep_run_id,
    tail_lines,
    truncate_log,
)
from stagectl.state import StateStore

PLAN_NAME = "plan.json"


class _PopenHandle:
    def __init__(self, popen):
        self.popen = popen

    def exit_status(self) -> int | None:
        return self.popen.poll()


class Supervisor:
    def __init__(self, state_dir: Path):
        self.store = StateStore(state_dir)
        plan_path = state_dir / "run" / PLAN_NAME
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        plan_path.unlink()  # it holds the resolved secrets
        self.plan = plan
        self.run_id: str = plan["run_id"]
        self.stack = Stack.model_validate(plan["stack"])
        self.ctx = RunnerContext(self.stack, plan["env"], Path(plan["root"]), state_dir)
        self.names: list[str] = plan["services"]
        self.popens: dict[str, subprocess.Popen] = {}
        self.launches: dict[str, Launch] = {}
        self.start_order: list[str] = []
        self.stop_requests = 0
        self.restart_requested = False
        self.spawner = Spawner()
        self.prewarmed: dict[str, concurrent.futures.Future] = {}  # name → Popen waiting for its go
        # Set once every service without dependencies is spawned: spawns go through one thread
        # and compete for the GIL, so prewarming and pre-importing wait until the first wave is out
        self.first_wave = {n for n in self.names if not [d for d in self.stack.services[n].depends_on if d in self.names]}
        self.first_wave_spawned = threading.Event()
        self.policies = {n: RestartPolicy(self.stack.services[n].restart) for n in self.names}
        self.started_at: dict[str, float] = {}

    # --- signals -------------------------------------------------------------------------------
    def _on_signal(self, signum, _frame) -> None:
        self.stop_requests += 1

    def install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGUSR1, self._on_restart_request)  # served by hold() once the stack is up

    # --- starting ------------------------------------------------------------------------------
    def _log_path(self, name: str) -> Path:
        return self.ctx.state_dir / "logs" / f"{name}.log"

    def _spawn(self, name: str, launch: Launch, argv: list[str] | None = None, **extra):
        death = signal.SIGINT if launch.stop_signal == signal.SIGINT else signal.SIGTERM
        return self.spawner.spawn(argv=argv or launch.argv, env=launch.env, log_path=self._log_path(name),
                                  run_id=self.run_id, cwd=launch.cwd, user=launch.user, death_signal=death, **extra)

    def _prewarm(self, pool, name: str, launch: Launch) -> None:
        """Start a service that has dependencies in its prewarm form: it imports while they start,
        and runs only when `_starter` sends the go (its dependencies are healthy by then)."""
        argv = launch.prewarm_argv()
        if argv:
            def spawn():
                self.first_wave_spawned.wait(timeout=1.0)
                return self._spawn(name, launch, argv, stdin=subprocess.PIPE)

            self.prewarmed[name] = pool.submit(spawn)

    def _take_prewarmed(self, name: str):
        future = self.prewarmed.pop(name, None)
        if future is None or future.exception() is not None:
            return None  # not prewarmed, or its spawn failed: a plain start reports the error
        popen = future.result()
        send_go(popen)
        return popen

    def _prepare(self, name: str, launch: Launch) -> None:
        """One-time set-up (initdb); a failure also goes into the service's own log, where
        `stagectl logs` and the error's "last log lines" look (the process never started)."""
        if launch.prepare is None:
            return
        try:
            launch.prepare()
        except Exception as exc:
            self._note(name, f"preparing {name} failed: {type(exc).__name__}: {exc}")
            raise

    def _note(self, name: str, message: str) -> None:
        """A stagectl line in a service's own log (`stagectl logs <name>` shows it)."""
        with os.fdopen(open_private(self._log_path(name), os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8") as fh:
            fh.write(f"stagectl: {message}\n")

    def _starter(self, name: str, launch: Launch):
        def start():
            popen = self._take_prewarmed(name)
            if popen is None:
                if launch.prepare:
                    self._prepare(name, launch)
                popen = self._spawn(name, launch)
            self.popens[name] = popen
            self.started_at[name] = time.monotonic()
            if name not in self.start_order:
                self.start_order.append(name)
            if self.first_wave <= set(self.start_order):
                self.first_wave_spawned.set()
            try:
                created = psutil.Process(popen.pid).create_time()
            except psutil.Error:
                created = None
            self.store.update_service(name, pid=popen.pid, pgid=popen.pid, create_time=created,
                                      stop_signal=int(launch.stop_signal), grace=launch.grace)
            return _PopenHandle(popen)

        return start

    def _probe(self, name: str, launch: Launch):
        svc = self.stack.services[name]
        base = build_probe(svc.healthcheck, port=svc.port, env=self.ctx.env, headers=launch.probe_headers)
        if svc.runner != "moto":
            return base
        initialised: list[str] = []

        def probe_and_init_bucket() -> ProbeResult:
            # the bucket is part of "s3 is ready": the dashboard starts only after it exists
            result = base()
            if not result.ok or initialised:
                return result
            try:
                from stagectl.s3init import init_s3
            except ImportError as exc:
                initialised.append("skipped")
                why = f"not run: {exc}"
                self.store.update(lambda s: s.update(s3_init=why))
                return result
            e = self.ctx.env
            try:
                actions = init_s3(f"http://127.0.0.1:{svc.port}", e.get("S3_BUCKET_NAME", "staging"),
                                  e.get("AWS_DEFAULT_REGION", "us-east-1"), e.get("AWS_ACCESS_KEY_ID", "test"),
                                  e.get("AWS_SECRET_ACCESS_KEY", "test"), e.get("S3_CORS_ORIGINS", ""),
                                  int(e.get("S3_LIFECYCLE_NONCURRENT_DAYS", "30") or 30))
            except Exception as exc:  # reported as this service's probe result, then retried
                return ProbeResult(False, f"s3 init failed: {type(exc).__name__}: {exc}"[:300])
            initialised.append("done")
            self.store.update(lambda s: s.update(s3_init=actions))
            return ProbeResult(True, f"{result.detail}; bucket ready ({len(actions)} changes)")

        return probe_and_init_bucket

    def _on_change(self, progress) -> None:
        self.store.update_service(progress.name, phase=progress.phase, detail=progress.detail,
                                  ready_s=progress.ready_s, last_probe=progress.last_probe)

    def start_all(self) -> bool:
        targets = []
        for name in self.names:
            svc = self.stack.services[name]
            launch = build_launch(name, svc, self.ctx)
            self.launches[name] = launch
            deps = [d for d in svc.depends_on if d in self.names]
            targets.append(Target(name, svc.healthcheck, self._probe(name, launch), self._starter(name, launch),
                                  deps, describe_exit))
        with concurrent.futures.ThreadPoolExecutor(max_workers=2 * len(targets) + 1) as pool:
            for target in targets:
                if target.depends_on:
                    self._prewarm(pool, target.name, self.launches[target.name])
            engine = WaitEngine(targets, timeout=float(self.plan["wait_timeout"]), executor=pool,
                                on_change=self._on_change, should_stop=lambda: self.stop_requests > 0)
            outcome = engine.run()
            if not outcome.ok:
                self._record_failure(outcome)
            # starts still running in the pool (e.g. initdb) finish before we tear down
        self.store.update(lambda s: s.update(phase="up" if outcome.ok else "failed",
                                             wait_s=round(outcome.elapsed, 3)))
        if outcome.ok:
            for name, launch in self.launches.items():
                if launch.after_up:  # e.g. PostgreSQL's copy for the next cold start
                    threading.Thread(target=self._after_up, args=(name, launch), daemon=True).start()
        return outcome.ok

    def _after_up(self, name: str, launch: Launch) -> None:
        if launch.after_up is None:
            return
        try:
            launch.after_up()
        except Exception as exc:  # background work: logged in the service's log, never fatal
            self._note(name, f"after-up work of {name} failed: {type(exc).__name__}: {exc}")

    def _record_failure(self, outcome) -> None:
        error = failure_record(outcome, lambda name: tail_lines(self._log_path(name), LOG_TAIL))
        self.store.update(lambda s: s.update(error=error))

    # --- running and stopping ----------------------------------------------------------------------
    def _on_restart_request(self, signum, _frame) -> None:
        self.restart_requested = True

    def restart(self, name: str, wait_timeout: float) -> dict:
        """(Re)start one service whose dependencies are up (chaos restore); wait for its health."""
        self.store.update_service(name, held=False)  # started again: the restart policy applies again
        popen = self.popens.get(name)
        launch = self.launches[name]
        svc = self.stack.services[name]
        starter = self._starter(name, launch)
        if popen is not None and popen.poll() is None:
            # Still running, perhaps frozen (a chaos `freeze`): resume its group, then wait for health
            # like a fresh start — "running" is not "healthy".
            os.killpg(popen.pid, signal.SIGCONT)
            starter = lambda: _PopenHandle(popen)  # noqa: E731 — the existing process is the handle
        target = Target(name, svc.healthcheck, self._probe(name, launch), starter, [], describe_exit)
        outcome = WaitEngine([target], timeout=wait_timeout, on_change=self._on_change,
                             should_stop=lambda: self.stop_requests > 0).run()
        progress = outcome.services[name]
        return {"ok": outcome.ok, "detail": progress.detail or progress.last_probe, "ready_s": progress.ready_s}

    def _serve_control(self) -> None:
        """Handle `LocalBackend.start` requests: run/control.json, announced by SIGUSR1."""
        self.restart_requested = False
        path = self.ctx.state_dir / "run" / "control.json"
        try:
            request = json.loads(path.read_text(encoding="utf-8"))
            path.unlink()
        except (OSError, json.JSONDecodeError):
            return
        try:
            if "stop" in request:
                answer = self.stop_one(request["stop"])
            else:
                self.policies[request["start"]].reset()
                answer = self.restart(request["start"], float(request.get("wait_timeout", 60)))
                if not answer["ok"]:
                    self.store.update_service(request["start"], held=True)  # a failed start is not crash-looped
        except Exception as exc:  # answered to the CLI, never kills the supervisor
            answer = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        self.store.update(lambda s: s.update(control={"id": request.get("id"), **answer}))

    def stop_one(self, name: str) -> dict:
        """`stagectl stop SERVICE`: stop its group with its own signal and grace; held, so the
        restart policy leaves it down until it is started again."""
        self.store.update_service(name, held=True)
        popen, launch = self.popens[name], self.launches[name]
        how = stop_group(popen.pid, launch.stop_signal, launch.grace, reap=popen, hurry=lambda: self.stop_requests >= 2)
        popen.poll()
        self.store.update_service(name, phase="stopped", detail=f"stopped ({how})")
        return {"ok": True, "detail": f"stopped ({how})"}

    def _on_exit(self, name: str, code: int) -> Decision:
        """Record an exit and ask the restart policy what to do (a held service stays down)."""
        rec = ((self.store.read() or {}).get("services") or {}).get(name) or {}
        if rec.get("held"):
            if rec.get("phase") != "stopped":
                self.store.update_service(name, phase="exited", detail=describe_exit(code))
            return Decision("leave", reason="stopped on purpose")
        up_for = time.monotonic() - self.started_at.get(name, time.monotonic())
        decision = self.policies[name].decide(code, up_for=up_for)
        self.store.update_service(name, phase="crash-loop" if decision.action == "crash-loop" else "exited",
                                  detail=f"{describe_exit(code)}; {decision.reason}")
        self._note(name, f"{name} {describe_exit(code)}; {decision.reason}")
        return decision

    def _policy_restart(self, name: str) -> None:
        policy = self.policies[name]
        policy.record()
        try:
            answer = self.restart(name, float(self.plan["wait_timeout"]))
        except Exception as exc:  # e.g. the spawn failed: counted, the next exit decides again
            answer = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        self.store.update_service(name, restarts=policy.total)
        if not answer["ok"]:
            self._note(name, f"restart {policy.total} of {name} did not become healthy: {answer['detail']}")

    def hold(self) -> None:
        """Watch the children until asked to stop: record exits, apply the restart policy, serve
        control requests."""
        reported: set[str] = set()
        due: dict[str, float] = {}  # name → when the policy restarts it
        while self.stop_requests == 0:
            if self.restart_requested:
                self._serve_control()
            for name, popen in list(self.popens.items()):
                code = popen.poll()
                if code is not None and name not in reported:
                    reported.add(name)
                    decision = self._on_exit(name, code)
                    if decision.action == "restart":
                        due[name] = time.monotonic() + decision.delay
                if code is None and name in reported:  # restarted
                    reported.discard(name)
            for name, when in list(due.items()):
                if time.monotonic() >= when and self.stop_requests == 0 and not self._held(name):
                    del due[name]
                    self._policy_restart(name)
                    reported.discard(name)  # exited again already: decided again on the next pass
                elif self._held(name):
                    del due[name]
            time.sleep(0.1)

    def _held(self, name: str) -> bool:
        return bool((((self.store.read() or {}).get("services") or {}).get(name) or {}).get("held"))

    def keep_logs_bounded(self) -> None:
        """Copy-truncate every service log past the limit, during the wait too (a chatty service
        must not fill the disk). Runs in a daemon thread for the supervisor's whole life."""
        limit = int(os.environ.get("STAGECTL_LOG_MAX_BYTES", LOG_LIMIT_BYTES))
        while True:
            for name in list(self.popens):
                truncate_log(self._log_path(name), limit)
            time.sleep(0.2)

    def _stop_prewarmed(self) -> None:
        """Prewarmed services that never got their go (the wait failed first): close their stdin
        (they exit at EOF) and stop their group."""
        for name, future in list(self.prewarmed.items()):
            del self.prewarmed[name]
            if future.exception() is None:
                popen = future.result()
                popen.stdin.close()
                stop_group(popen.pid, signal.SIGTERM, 5.0, reap=popen, hurry=lambda: self.stop_requests >= 2)

    def teardown(self) -> None:
        """Stop in reverse dependency waves; services within a wave stop in parallel."""
        self.store.update(lambda s: s.update(phase="stopping"))
        hurry = lambda: self.stop_requests >= 2  # noqa: E731 - second signal: no more grace

        def stop(name: str) -> None:
            popen, launch = self.popens[name], self.launches[name]
            how = stop_group(popen.pid, launch.stop_signal, launch.grace, reap=popen, hurry=hurry)
            popen.poll()
            self.store.update_service(name, phase="stopped", detail=f"stopped ({how})")

        self._stop_prewarmed()
        started = set(self.popens)
        for wave in reversed(self.stack.start_order()):
            names = [n for n in wave if n in started]
            if names:
                with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
                    list(pool.map(stop, names))
        escaped = sweep_run_id(self.run_id, exclude=[os.getpid()])
        self.store.update(lambda s: s.update(phase="stopped", escaped=escaped))


def _preimport(after: threading.Event) -> None:
    """Import the probe/S3 client libraries while the services start (not on the critical path)."""
    import contextlib

    after.wait(timeout=1.0)

    for module in ("psycopg", "redis", "boto3", "stagectl.s3init"):
        with contextlib.suppress(ImportError):
            __import__(module)
    with contextlib.suppress(Exception):
        # Creating the first S3 client loads botocore's service model (~0.1–0.2 s); it is cached on
        # boto3's default session, which `init_s3` uses, so moto's bucket setup does not pay it.
        import boto3

        boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                     aws_access_key_id="preload", aws_secret_access_key="preload")


def main(argv: list[str]) -> int:
    state_dir = Path(argv[1])
    sup = Supervisor(state_dir)
    sup.install_signals()
    threading.Thread(target=_preimport, args=(sup.first_wave_spawned,), daemon=True).start()
    threading.Thread(target=sup.keep_logs_bounded, daemon=True).start()
    me = psutil.Process()
    sup.store.update(lambda s: s.update(owner_pid=me.pid, owner_create_time=me.create_time(), phase="starting"))
    ok = False
    try:
        ok = sup.start_all()
        if ok:
            sup.hold()
    except Exception as exc:  # recorded for the CLI; the finally still tears down
        detail = f"{type(exc).__name__}: {exc}"
        sup.store.update(lambda s: s.update(phase="failed", error={"reason": "supervisor error", "detail": detail}))
    finally:
        if not ok:
            failed_state = (sup.store.read() or {}).get("error")
        sup.teardown()
        if not ok:
            sup.store.update(lambda s: s.update(phase="failed", error=failed_state))
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
