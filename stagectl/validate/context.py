"""`CheckContext`: the read-only view of a project the checks get. Each input is parsed at most once
(a MissingInput is cached too), and the external tools (promtool, bash -n) start early in the
background so they overlap with the in-process checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from stagectl.config.loader import Project
from stagectl.validate.inputs import (
    _METRIC_DEF,
    _SUFFIXES,
    ALERT_RULES,
    ALERT_TESTS,
    COMPOSE_FILE,
    DASHBOARD_PACKAGE,
    PROMETHEUS_CONFIG,
    S3_INIT,
    EnvDoc,
    MissingInput,
    YamlDoc,
    parse_env,
    parse_yaml,
)


class CheckContext:
    """Read-only view of a project for the checks: paths, and each input parsed at most once."""

    def __init__(
        self,
        project: Project,
        *,
        search_path: str | None = None,
        python_version: tuple[int, int] | None = None,
        module_available: Callable[[str], bool] | None = None,
        resolver: Callable[[Any], Any] | None = None,
    ):
        self.project = project
        self.root = project.root
        self.stack = project.stack
        self.env: dict[str, str] = dict(project.env)
        self.render_dir = project.render_dir
        self.search_path = os.environ.get("PATH", "") if search_path is None else search_path
        self.python_version = python_version or sys.version_info[:2]
        self.module_available = module_available or _module_available
        self._resolver = resolver
        self._cache: dict[tuple[str, Path], Any] = {}
        self._background: dict[str, subprocess.Popen[str]] = {}
        self._finished: dict[str, subprocess.CompletedProcess[str]] = {}

    # -- paths ----------------------------------------------------------------------------------
    def rendered(self, name: str) -> Path:
        return self.render_dir / name

    @property
    def env_example_path(self) -> Path:
        return self.root / self.stack.env_example

    @property
    def user_env_path(self) -> Path:
        return self.root / self.stack.env_file

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- parsed inputs (cached; MissingInput when absent or unparsable) ---------------------------
    def text(self, path: Path) -> str:
        def load() -> str:
            if not path.is_file():
                raise MissingInput(f"{self.rel(path)} does not exist")
            return path.read_text(encoding="utf-8", errors="replace")

        return self._cached("text", path, load)

    def yaml(self, path: Path) -> YamlDoc:
        def load() -> YamlDoc:
            self.text(path)
            try:
                return parse_yaml(path, self.rel(path))
            except yaml.YAMLError as exc:
                raise MissingInput(f"{self.rel(path)} is not valid YAML ({str(exc).splitlines()[0]})") from None

        return self._cached("yaml", path, load)

    def envfile(self, path: Path) -> EnvDoc:
        def load() -> EnvDoc:
            self.text(path)
            return parse_env(path, self.rel(path))

        return self._cached("env", path, load)

    @property
    def compose(self) -> YamlDoc:
        doc = self.yaml(self.rendered(COMPOSE_FILE))
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("services"), dict):
            raise MissingInput(f"{doc.rel} has no services mapping")
        return doc

    def compose_services(self) -> dict[str, dict]:
        return {k: (v or {}) for k, v in self.compose.data["services"].items()}

    @property
    def prometheus(self) -> YamlDoc:
        return self.yaml(self.rendered(PROMETHEUS_CONFIG))

    @property
    def alerts(self) -> YamlDoc:
        return self.yaml(self.rendered(ALERT_RULES))

    @property
    def alert_tests(self) -> YamlDoc:
        return self.yaml(self.rendered(ALERT_TESTS))

    @property
    def env_example(self) -> EnvDoc:
        return self.envfile(self.env_example_path)

    @property
    def user_env(self) -> EnvDoc | None:
        """The user's own .env.staging, or None when they have not created one."""
        return self.envfile(self.user_env_path) if self.user_env_path.is_file() else None

    def yaml_files(self, subdir: str) -> list[YamlDoc]:
        folder = self.rendered(subdir)
        files = sorted(p for p in folder.glob("*") if p.suffix in (".yml", ".yaml")) if folder.is_dir() else []
        if not files:
            raise MissingInput(f"no YAML files in {self.rel(folder)}")
        return [self.yaml(p) for p in files]

    def dashboard_sources(self) -> dict[Path, str]:
        def load() -> dict[Path, str]:
            package = self.root / DASHBOARD_PACKAGE
            return {p: p.read_text(encoding="utf-8", errors="replace") for p in sorted(package.rglob("*.py"))}

        return self._cached("sources", self.root / DASHBOARD_PACKAGE, load)

    def exposed_metrics(self) -> set[str]:
        """Series names the dashboard's prometheus_client metrics expose (suffixes included)."""

        def load() -> set[str]:
            names: set[str] = set()
            for text in self.dashboard_sources().values():
                for kind, name in _METRIC_DEF.findall(text):
                    base = name[: -len("_total")] if kind == "Counter" and name.endswith("_total") else name
                    names.update(base + suffix for suffix in _SUFFIXES[kind])
            return names

        return self._cached("metrics", self.root / DASHBOARD_PACKAGE, load)

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self.search_path)

    def resolve(self, service: Any) -> Any:
        """Where `up` would find a service's executable (stagectl.binaries.Resolution)."""
        if self._resolver is not None:
            return self._resolver(service)
        from stagectl.binaries import resolve

        return resolve(service, root=self.root)

    def _cached(self, kind: str, path: Path, load: Callable[[], Any]) -> Any:
        key = (kind, path)
        if key not in self._cache:
            try:
                self._cache[key] = load()
            except MissingInput as exc:
                self._cache[key] = exc
        value = self._cache[key]
        if isinstance(value, MissingInput):
            raise value
        return value

    # -- external tools, started early so they overlap with the in-process checks ----------------
    def background_jobs(self) -> dict[str, list[str]]:
        jobs: dict[str, list[str]] = {}
        promtool = self.which("promtool")
        if promtool:
            pairs = {
                "promtool_config": (["check", "config", "--syntax-only"], PROMETHEUS_CONFIG),
                "promtool_rules": (["check", "rules"], ALERT_RULES),
                # `promtool test rules` is left out: it costs ~180 ms of CPU (measured), most of
                # validate's 300 ms budget; tests/unit/test_checks.py runs it on the repo's rules.
            }
            for key, (args, name) in pairs.items():
                if self.rendered(name).is_file():
                    jobs[key] = [promtool, *args, str(self.rendered(name))]
        bash = self.which("bash")
        if bash and self.rendered(S3_INIT).is_file():
            jobs["bash_syntax"] = [bash, "-n", str(self.rendered(S3_INIT))]
        return jobs

    def start_background(self, only: str | None = None) -> None:
        """Start the external tools now (from this thread: no thread pool, no GIL contention);
        `only` starts just that one (a single check run outside the runner)."""
        env = {**os.environ, "GOMAXPROCS": "1"}  # promtool is Go: one core each leaves one for us
        for key, argv in self.background_jobs().items():
            if key in self._background or (only is not None and key != only):
                continue
            self._background[key] = subprocess.Popen(
                argv, cwd=self.render_dir, env=env, text=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )

    def tool(self, key: str) -> subprocess.CompletedProcess[str]:
        """The finished run of background job `key`; MissingInput when it could not be started."""
        self.start_background(only=key)
        proc = self._background.get(key)
        if proc is None:
            raise MissingInput(f"{key}: tool or input file not available")
        if key not in self._finished:
            try:
                out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            self._finished[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        return self._finished[key]

    def close(self) -> None:
        """Reap every background tool (killing any a check never waited for)."""
        for key, proc in self._background.items():
            if key not in self._finished:
                proc.kill()
                proc.communicate()


def _module_available(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
