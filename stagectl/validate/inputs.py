"""What the static checks read: the rendered files' names, and YAML / env files parsed so that
every value still knows its line (a failing check names `file:line`)."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

import yaml

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
