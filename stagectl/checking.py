"""The static-check framework: a registry of small check functions and a runner.

A check is a function ``fn(ctx: CheckContext) -> CheckResult | Iterable[CheckResult]`` registered
with ``@check(id, section, description, catches=...)``. It builds its results with ``passed()``,
``failed()`` and ``skipped()``; the runner fills in the id, section and duration. A check that
raises is recorded as ``error`` and the other checks still run. The built-in checks live in
``checks/static/`` (one module per section) and register themselves on import.

``python -m stagectl.checking --catalogue`` prints the check catalogue (docs/checks.md).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from stagectl.config.loader import Project
from stagectl.results import CheckResult

# Where the rendered files live, relative to the render dir (compose/). The render engineer's
# templates write exactly these names; validate reads them.
COMPOSE_FILE = "docker-compose.staging.yml"
COMPOSE_ENV = ".env.staging"
PROMETHEUS_CONFIG = "prometheus/prometheus.staging.yml"
ALERT_RULES = "prometheus/alerts.staging.yml"
ALERT_TESTS = "prometheus/alerts.staging.test.yml"
GRAFANA_DATASOURCES = "grafana/provisioning/datasources"
GRAFANA_DASHBOARD_PROVIDERS = "grafana/provisioning/dashboards"
S3_INIT = "s3/init-s3.sh"
DASHBOARD_PACKAGE = "dashboard/inventario_dashboard"

# prometheus_client metric constructors: Counter("name", ...) or Counter(name="name", ...).
_METRIC_DEF = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*(?:name\s*=\s*)?[\"']([a-zA-Z_:][a-zA-Z0-9_:]*)[\"']"
)
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}


class MissingInput(Exception):
    """An input a check needs is absent or does not parse; the files.* checks report that fault."""


@dataclasses.dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML file that still knows the line of every node."""

    path: Path
    rel: str
    data: Any
    node: Any

    def line(self, *keys: str | int) -> int | None:
        """1-based line of the node at `keys` (mapping keys / list indexes), or of its nearest parent."""
        node, line = self.node, (self.node.start_mark.line + 1 if self.node else None)
        for key in keys:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(key):  # scalar node values are always strings
                        child, line = v, k.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def loc(self, *keys: str | int) -> str:
        line = self.line(*keys)
        return f"{self.rel}:{line}" if line else self.rel


@dataclasses.dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    line: int
    commented: bool  # an inline comment, or the block of variables it sits in starts with a comment
    marked_secret: bool  # the comment just above (within its block) says SECRET


@dataclasses.dataclass(frozen=True)
class EnvDoc:
    """An env file parsed leniently: malformed lines are kept for the checks to report."""

    path: Path
    rel: str
    entries: list[EnvEntry]
    bad_lines: list[tuple[int, str]]

    @functools.cached_property
    def values(self) -> dict[str, str]:
        return {e.name: e.value for e in self.entries}

    def line_of(self, name: str) -> int | None:
        return next((e.line for e in self.entries if e.name == name), None)

    def loc(self, name: str) -> str:
        line = self.line_of(name)
        return f"{self.rel}:{line}" if line else self.rel


_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_env(path: Path, rel: str) -> EnvDoc:
    """Parse KEY=value lines, remembering comments (a variable's block = lines since a blank line)."""
    entries: list[EnvEntry] = []
    bad: list[tuple[int, str]] = []
    block_commented = False
    last_comment = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if not text:
            block_commented, last_comment = False, ""
            continue
        if text.startswith("#"):
            block_commented, last_comment = True, text
            continue
        match = _ENV_LINE.match(text)
        if not match:
            bad.append((number, raw))
            continue
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        inline = " #" in value and value[0] not in "'\""
        entries.append(EnvEntry(match.group(1), value, number, block_commented or inline, "SECRET" in last_comment))
        last_comment = ""  # only the comment directly above marks a secret
    return EnvDoc(path, rel, entries, bad)


def parse_yaml(path: Path, rel: str) -> YamlDoc:
    """One parse giving both the data and the node tree (for line numbers)."""
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return YamlDoc(path, rel, data, node)


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



@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """One registered check: its stable id, section, what it verifies and the fault it catches."""

    id: str
    section: str
    description: str
    catches: str
    fn: CheckFn
    hint: str | None = None


CheckFn = Callable[[CheckContext], "CheckResult | Iterable[CheckResult]"]
REGISTRY: dict[str, CheckSpec] = {}
# The order sections are shown in (and the catalogue lists them in); unknown sections go last.
SECTION_ORDER: list[str] = []


def check(id: str, section: str, description: str, *, catches: str, hint: str | None = None):
    """Register a check function under a unique id. `catches` names the fault it detects."""

    def decorate(fn: CheckFn) -> CheckFn:
        if id in REGISTRY and REGISTRY[id].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"check id {id!r} registered twice")
        if not catches.strip():
            raise ValueError(f"check {id!r} must say which fault it catches")
        REGISTRY[id] = CheckSpec(id, section, description, catches, fn, hint)
        if section not in SECTION_ORDER:
            SECTION_ORDER.append(section)
        return fn

    return decorate


# -- result builders: the runner completes id/section, so checks only say what they found ---------


def passed(message: str, *, location: str | None = None, item: str | None = None, evidence: str | None = None) -> CheckResult:
    return CheckResult(_item_id(item), "", "pass", message, location=location, evidence=evidence)


def failed(
    message: str,
    *,
    location: str | None = None,
    hint: str | None = None,
    item: str | None = None,
    evidence: str | None = None,
) -> CheckResult:
    return CheckResult(_item_id(item), "", "fail", message, location=location, hint=hint, evidence=evidence)


def skipped(reason: str, *, item: str | None = None) -> CheckResult:
    return CheckResult(_item_id(item), "", "skip", reason)


def verdict(problems: Sequence[tuple[str, str | None]], ok_message: str, *, hint: str | None = None) -> CheckResult:
    """One result for a list of (problem, location) pairs: pass when empty, else fail naming all."""
    if not problems:
        return passed(ok_message)
    text = "; ".join(p for p, _ in problems)
    first_location = next((loc for _, loc in problems if loc), None)
    return failed(text, location=first_location, hint=hint)


def _item_id(item: str | None) -> str:
    return f"[{item}]" if item else ""


# -- runner -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunResult:
    results: list[CheckResult]
    duration_s: float


def load_builtin_checks(root: Path | None = None) -> dict[str, CheckSpec]:
    """Import checks/static/* (registering every built-in check) and return the registry."""
    try:
        importlib.import_module("checks.static")
    except ModuleNotFoundError as exc:
        # stagectl run from a checkout that is not pip-installed: `checks` sits next to `stagectl`.
        if exc.name not in ("checks", "checks.static"):
            raise
        sys.path.insert(0, str(root or Path(__file__).resolve().parent.parent))
        importlib.import_module("checks.static")
    return REGISTRY


def select(sections: Iterable[str] | None = None, registry: dict[str, CheckSpec] | None = None) -> list[CheckSpec]:
    """The checks to run, in section order then id order; `sections` filters by section name."""
    registry = REGISTRY if registry is None else registry
    wanted = set(sections) if sections else None
    order = {name: i for i, name in enumerate(SECTION_ORDER)}
    specs = [s for s in registry.values() if wanted is None or s.section in wanted]
    return sorted(specs, key=lambda s: (order.get(s.section, len(order)), s.id))


def run_one(spec: CheckSpec, ctx: CheckContext) -> list[CheckResult]:
    """Run one check; an exception becomes an `error` result, a MissingInput a reasoned skip."""
    start = time.perf_counter()
    try:
        out = spec.fn(ctx)
        raw = [out] if isinstance(out, CheckResult) else list(out)
        if not raw:
            raise RuntimeError("check returned no result")
    except MissingInput as exc:
        raw = [CheckResult("", "", "skip", f"input unavailable: {exc}")]
    except Exception as exc:  # a broken check must not hide the others
        raw = [CheckResult("", "", "error", f"check raised {type(exc).__name__}: {exc}", hint="this is a bug in the check or an unreadable input")]
    elapsed = (time.perf_counter() - start) * 1000 / len(raw)
    return [
        dataclasses.replace(
            r,
            id=spec.id + r.id,
            section=spec.section,
            hint=r.hint or (spec.hint if r.status == "fail" else None),
            duration_ms=round(elapsed, 3),
        )
        for r in raw
    ]


def run_checks(ctx: CheckContext, specs: Sequence[CheckSpec] | None = None) -> RunResult:
    """Run checks (default: every built-in one) against one context."""
    start = time.perf_counter()
    specs = select(registry=load_builtin_checks()) if specs is None else specs
    ctx.start_background()
    results: list[CheckResult] = []
    try:
        for spec in specs:
            results.extend(run_one(spec, ctx))
    finally:
        ctx.close()
    return RunResult(results, time.perf_counter() - start)


def catalogue_markdown(registry: dict[str, CheckSpec] | None = None) -> str:
    """docs/checks.md: every registered check grouped by section."""
    specs = select(registry=registry)
    sections: dict[str, list[CheckSpec]] = {}
    for spec in specs:
        sections.setdefault(spec.section, []).append(spec)
    lines = [
        "# Check catalogue",
        "",
        "Generated by `python -m stagectl.checking --catalogue > docs/checks.md`; a test fails when it is stale.",
        f"{len(specs)} checks in {len(sections)} sections. Run them with `stagectl validate` "
        "(`--section NAME` to run one section, `--json`, `--junit FILE`).",
        "",
    ]
    for section, items in sections.items():
        lines += [f"## {section} ({len(items)})", "", "| id | checks | catches |", "|---|---|---|"]
        for spec in items:
            lines.append(f"| `{spec.id}` | {_cell(spec.description)} | {_cell(spec.catches)} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    if sys.argv[1:] != ["--catalogue"]:
        print("usage: python -m stagectl.checking --catalogue", file=sys.stderr)
        sys.exit(2)
    # Run as __main__, this module is a second copy; the checks register with stagectl.checking.
    from stagectl import checking

    checking.load_builtin_checks()
    sys.stdout.write(checking.catalogue_markdown())
