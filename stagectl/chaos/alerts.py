"""The alerting side of chaos: while a breaker is open, Prometheus's matching alert must go
pending or firing, and be inactive again once the breaker has closed (docs/contract.md §7).

The staging rules wait 1–5 minutes (`for:`) at a 15 s scrape interval, far longer than a chaos
run. For the run, the running Prometheus gets a chaos variant of its own config, loaded by SIGHUP through the
backend (the lifecycle HTTP API stays off: with it any local user could stop Prometheus): 1 s
scrape and evaluation, and a copy of the rules with `for: CHAOS_FOR`. A reload counts only once
Prometheus's own metrics say it succeeded after the signal, and the chaos timing only once
Prometheus's running config shows it. The original config is written back and reloaded afterwards
(also on errors and Ctrl-C). Where that cannot be done (no config file, Prometheus not reachable)
the watch is unavailable and says why: the breaker checks then record a skip reason.

Local: the config the backend wrote in the service home, rule copies beside it (0600, the service
user's). Compose: the project's copy the host overlay mounts (stagectl/backends/compose_prometheus.py),
rule copies beside it, which the container sees under RULES_REF (0644: the image's own user reads them).
"""

from __future__ import annotations

import os
import pwd
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from stagectl.backends.compose_prometheus import write_shared
from stagectl.backends.local.privileges import private_file

CHAOS_INTERVAL = "1s"
CHAOS_FOR = "1s"
ALERT_FOR_SERVICE = {"database": "DatabaseCircuitBreakerOpen", "openai": "OpenAICircuitBreakerOpen",
                     "redis": "RedisCircuitBreakerOpen", "s3": "S3CircuitBreakerOpen"}


class AlertWatch:
    """Prometheus switched to chaos timing for the duration of a `with` block."""

    def __init__(self, url: str, config: Path, send_hup: Callable[[], None], timeout: float = 5.0,
                 reload_timeout: float = 30.0, rules_ref: str | None = None):
        """`rules_ref`: the config's directory as Prometheus sees it, when not at the host path
        (a container's bind mount): rule copies are then named by it and written world-readable."""
        self.url, self.config = url.rstrip("/"), config
        self.rules_ref = rules_ref
        self._send_hup = send_hup
        self._reload_timeout = reload_timeout
        self._original: str | None = None
        self.client = httpx.Client(base_url=self.url, timeout=timeout)

    @classmethod
    def for_project(cls, project, backend) -> AlertWatch:
        """The watch on the stack's own Prometheus; `backend` delivers its reload signal."""
        svc = next(((n, s) for n, s in project.stack.services.items() if s.runner == "prometheus"), None)
        name, port = (svc[0], svc[1].port) if svc else ("prometheus", 0)
        return cls(f"http://127.0.0.1:{port}", backend.prometheus_config, lambda: backend.signal(name, signal.SIGHUP),
                   rules_ref=backend.prometheus_rules_ref)

    def unavailable(self) -> str | None:
        """Why the watch cannot run here, or None."""
        if not self.config.is_file():
            return f"no Prometheus config at {self.config} (was the stack started by this version of stagectl?)"
        try:
            if self.client.get("/-/ready").status_code != 200:
                return f"Prometheus at {self.url} is not ready"
        except httpx.HTTPError as exc:
            return f"Prometheus at {self.url} is unreachable ({type(exc).__name__})"
        return None

    def _reload_status(self) -> tuple[float, float]:
        """(success flag, time of the last successful reload) from Prometheus's own metrics."""
        values = {}
        for line in self.client.get("/metrics").text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("prometheus_config_last_reload_successful",
                        "prometheus_config_last_reload_success_timestamp_seconds"):
                values[name] = float(value)
        return (values.get("prometheus_config_last_reload_successful", 0.0),
                values.get("prometheus_config_last_reload_success_timestamp_seconds", 0.0))

    def _reload(self) -> None:
        _, before = self._reload_status()
        self._send_hup()
        deadline = time.monotonic() + self._reload_timeout
        while time.monotonic() < deadline:
            try:
                ok, at = self._reload_status()
            except httpx.TimeoutException:
                # A reload waits for in-flight scrapes (up to scrape_timeout, 10 s: an exporter
                # whose service was just frozen), and Prometheus's own /metrics waits with it
                # (the scrape manager's collectors take the lock the reload holds): not done yet.
                continue
            if at > before and ok == 1.0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"Prometheus did not report a successful reload within {self._reload_timeout:.0f} s "
                           "of SIGHUP (see `stagectl logs prometheus`)")

    def __enter__(self) -> AlertWatch:
        self._original = self.config.read_text(encoding="utf-8")
        data = yaml.safe_load(self._original) or {}
        data.setdefault("global", {}).update(scrape_interval=CHAOS_INTERVAL, evaluation_interval=CHAOS_INTERVAL)
        rules = []
        for i, path in enumerate(data.get("rule_files") or []):
            # relative rule paths are the config directory's, as Prometheus reads them
            groups = yaml.safe_load((self.config.parent / path).read_text(encoding="utf-8")) or {}
            for group in groups.get("groups") or []:
                for rule in group.get("rules") or []:
                    if "alert" in rule:
                        rule["for"] = CHAOS_FOR
            rules.append(self._write_rules(f"chaos-rules-{i}.yml", yaml.safe_dump(groups, sort_keys=False)))
        data["rule_files"] = rules
        try:
            # in place (write_text truncates): a single-file bind mount follows the inode
            self.config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            self._reload()
            self._check_running_timing()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _write_rules(self, name: str, text: str) -> str:
        """Write a rule copy beside the config; return its path as Prometheus names it."""
        if self.rules_ref is not None:
            write_shared(self.config.with_name(name), text)
            return f"{self.rules_ref}/{name}"
        # 0600 and owned like the config, which Prometheus (maybe as the service user) reads
        owner = pwd.getpwuid(self.config.stat().st_uid).pw_name if os.geteuid() == 0 else None
        return str(private_file(self.config.with_name(name), text, owner=owner))

    def _check_running_timing(self) -> None:
        """The reload succeeded; fail unless it loaded this file (a Prometheus reading another
        config reloads just as well, and its alerts would then never go pending in time)."""
        running = yaml.safe_load(self.client.get("/api/v1/status/config").json()["data"]["yaml"]) or {}
        interval = (running.get("global") or {}).get("scrape_interval")
        if interval != CHAOS_INTERVAL:
            raise RuntimeError(f"Prometheus at {self.url} reloaded but scrapes every {interval}, not {CHAOS_INTERVAL}: "
                               f"it does not read {self.config}")

    def __exit__(self, *exc) -> None:
        if self._original is not None:
            self.config.write_text(self._original, encoding="utf-8")
            self._original = None
            self._reload()
        self.client.close()

    def state(self, service: str) -> str:
        """inactive | pending | firing of the service's breaker alert ("unknown" when not asked)."""
        name = ALERT_FOR_SERVICE[service]
        try:
            alerts = self.client.get("/api/v1/alerts").json()["data"]["alerts"]
        except (httpx.HTTPError, ValueError, KeyError):
            return "unknown"
        states = {a.get("state") for a in alerts if (a.get("labels") or {}).get("alertname") == name}
        return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"
