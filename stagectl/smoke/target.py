"""Where the smoke suite points and what it expects (a `SmokeTarget`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagectl.errors import ConfigError, PreflightError

if TYPE_CHECKING:
    from stagectl.backends.base import ServiceStatus
    from stagectl.config.loader import Project
    from stagectl.remote import RemoteTarget
    from stagectl.smoke.runner import SmokeTarget

_RUNNING = ("running", "healthy")
PEER_ENV = "STAGECTL_PEER"  # compose: how to run a command in another container of the stack
CONTAINER_PIDS_ENV = "STAGECTL_CONTAINER_PIDS"  # compose: name:host-pid of each running container


def _dashboard_service(project: Project) -> tuple[str, Any]:
    for name, svc in project.stack.services.items():
        if svc.runner == "dashboard":
            return name, svc
    raise ConfigError("the stack has no service with runner: dashboard; nothing to smoke-test",
                      hint="pass --target URL to test a dashboard running elsewhere")


def smoke_target(project: Project, *, target: str | None = None, api_key_env: str | None = None,
                 backend: str | None = None) -> SmokeTarget:
    """Where the suite points and what it expects: the project's variables with the endpoints the
    local backend gives the dashboard (so the suite talks to the same services), and — for a
    stack the local backend started — the dashboard's JSON log file. Raises PreflightError (exit 4)
    when no stack is running and no `target` was given."""
    from stagectl.backends.local.runners import RunnerContext, build_launch, service_endpoints
    from stagectl.smoke.runner import SmokeTarget
    from stagectl.stack import backend_name

    name, svc = _dashboard_service(project)
    ctx = RunnerContext(stack=project.stack, env=project.env, root=project.root, state_dir=project.state_dir)
    env = {**project.env, **service_endpoints(ctx)}
    if api_key_env:
        value = os.environ.get(api_key_env) or project.env.get(api_key_env)
        if not value:
            raise ConfigError(f"--api-key-env {api_key_env}: that variable is not set")
        env |= {api_key_env: value, "STAGECTL_API_KEY_ENV": api_key_env}
    if target:
        return SmokeTarget(url=target.rstrip("/"), env=env, dashboard_log=None)
    backend = backend_name(backend, project)
    dashboard, rows = _running_dashboard(project, name, backend)
    url = f"http://127.0.0.1:{dashboard.port}"
    if backend != "local":  # the endpoints the dashboard's container dials, for the endpoint test
        from stagectl.smoke.endpoints import ENV_NAME, compose_dashboard_env, encoded

        env[ENV_NAME] = encoded(compose_dashboard_env(project, name))  # the container's own view
    if backend == "compose":
        # the compose backend publishes every service at the same host ports (its host overlay)
        # and bind-mounts the dashboard's log directory into the state dir; Docker's port proxy
        # hides the client address, so the suite names its source in X-Forwarded-For, which
        # that dashboard trusts from its network's gateway only; a peer container shows that
        # nobody else is believed
        from stagectl.backends.compose import DASHBOARD_LOG, LOG_DIR
        from stagectl.loopback import FORWARDED_FOR_ENV

        env |= {FORWARDED_FOR_ENV: "1", PEER_ENV: json.dumps(_compose_peer(project, name, svc, backend)),
                CONTAINER_PIDS_ENV: _container_pids(project, backend)}
        return SmokeTarget(url=url, env=env, dashboard_log=project.state_dir / LOG_DIR / DASHBOARD_LOG)
    if backend != "local":  # the log file lives elsewhere: the logging tests say so and skip
        return SmokeTarget(url=url, env=env, dashboard_log=None)
    log_file = build_launch(name, svc, ctx).env.get("LOG_FILE")  # exactly where the backend sends it
    # the processes the least-privilege check looks up by their listening port
    env["STAGECTL_LOCAL_SERVICES"] = ",".join(f"{r.name}:{r.port}" for r in rows if r.state in _RUNNING)
    return SmokeTarget(url=url, env=env, dashboard_log=Path(log_file) if log_file else None)


def remote_smoke_target(project: Project, remote: RemoteTarget) -> SmokeTarget:
    """The suite against a stack stagectl did not start: the configured values it must match (the
    project's non-secret variables) and the key of `remote`. No secret of the local env file and no
    local endpoint goes along: the tests that need them are not applicable there."""
    from stagectl.remote import DEFAULT_KEY_ENV
    from stagectl.secrets import is_secret_name
    from stagectl.smoke.runner import SmokeTarget

    env = {k: v for k, v in project.env.items() if not is_secret_name(k)}
    env |= {DEFAULT_KEY_ENV: remote.api_key, "STAGECTL_API_KEY_ENV": DEFAULT_KEY_ENV}
    return SmokeTarget(url=remote.url, env=env, dashboard_log=None, remote=True)


def _running_dashboard(project: Project, dashboard: str, backend: str) -> tuple[ServiceStatus, list[ServiceStatus]]:
    """The dashboard's status row (its published port) and every row; PreflightError when the
    dashboard is not running."""
    from stagectl.stack import backend_for

    stack_backend = backend_for(backend, project)
    rows = stack_backend.status(probe=False)  # the smoke suite does the probing
    row = next((r for r in rows if r.name == dashboard), None)
    if row is None or row.state not in _RUNNING:
        state = row.state if row else "unknown"
        raise PreflightError(f"no stack is running (dashboard: {state})",
                             hint="run `stagectl up` first, or pass --target URL")
    return row, rows


def _compose_peer(project: Project, dashboard: str, svc: Any, backend: str) -> dict:
    """Another container of the compose stack that can reach the dashboard (the LLM stand-in: same
    image, so Python is there): the argv that runs a command in it and the dashboard's URL as it
    sees it. The smoke suite sends a forged X-Forwarded-For from there."""
    from stagectl.stack import backend_for

    peer = next((n for n, s in project.stack.services.items() if s.enabled and s.runner == "llm_stub"), None)
    if peer is None:
        raise ConfigError("the compose smoke suite needs the stack's llm service (a peer container of the dashboard)")
    compose: Any = backend_for(backend, project)
    return {"exec": [*map(str, compose.docker.compose.docker_compose_cmd), "exec", "-T", peer], "service": peer,
            "url": f"http://{dashboard}:{svc.container_port}"}


def _container_pids(project: Project, backend: str) -> str:
    """"service:pid,…" of every running container of the compose stack, the pid as this host sees
    it (no user-namespace remapping here, so its uid is the container's): the least-privilege
    check looks at who each container's main process runs as."""
    from stagectl.stack import backend_for

    compose: Any = backend_for(backend, project)
    pairs = []
    for container in compose.docker.compose.ps():
        if container.state.running and container.state.pid:
            pairs.append(f"{container.config.labels.get('com.docker.compose.service', container.name)}:{container.state.pid}")
    return ",".join(sorted(pairs))
