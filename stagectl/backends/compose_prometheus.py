"""The compose stack's Prometheus config as a per-project copy in the state dir.

The compose file mounts the committed render (`compose/prometheus/`) read-only, which nobody may
edit at run time. The host overlay (HOST_FILE) mounts this copy instead: the config file itself at
/etc/prometheus/prometheus.yml and its directory at /etc/prometheus/stagectl, so chaos can switch
Prometheus to chaos timing (a config and rule copies written here, then SIGHUP) and back, as it
does under the local backend. Every start copies the render afresh: an interrupted chaos run's
variant never outlives the next `up`.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from stagectl.errors import ConfigError

CONFIG_DIR = "compose-prometheus"  # under the project's state dir
CONFIG_FILE = "prometheus.yml"
RULES_REF = "stagectl"  # CONFIG_DIR as Prometheus sees it, relative to its config's directory
RENDERED_CONFIG = Path("prometheus") / "prometheus.staging.yml"  # in the render dir


def write_shared(path: Path, text: str) -> Path:
    """Write `path` in place, world-readable (0644), never through a symlink.

    In place: a single-file bind mount follows the inode, so a file replaced by rename would stay
    invisible to the container. World-readable: Prometheus runs as its image's own user. Nothing
    secret goes here (the dashboard's key reaches Prometheus as a Docker secret).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o644)
        fh.write(text)
    return path


def prepare(render_dir: Path, out_dir: Path) -> Path:
    """Copy the rendered config (as CONFIG_FILE) and the rule files it names into `out_dir`
    (0755); return the config's path there."""
    source = render_dir / RENDERED_CONFIG
    if not source.is_file():
        raise ConfigError(f"no rendered Prometheus config at {source}", hint="run `stagectl render`")
    text = source.read_text(encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o755)
    for rule in (yaml.safe_load(text) or {}).get("rule_files") or []:
        rule_file = source.parent / Path(rule).name  # relative to the config, as Prometheus reads them
        if rule_file.is_file():
            write_shared(out_dir / rule_file.name, rule_file.read_text(encoding="utf-8"))
    return write_shared(out_dir / CONFIG_FILE, text)
