"""Helpers shared by the static checks: compose short/long syntax, durations, env values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from stagectl.config.interpolate import interpolate
from stagectl.config.model import parse_duration

# Compose's duration grammar: a sequence of number+unit, e.g. 1m30s, 500ms, 10s.
_COMPOSE_DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PROM_DURATION = re.compile(r"^((\d+)(y|w|d|h|ms|m|s))+$")
TRUE_FALSE = ("true", "false")


def compose_duration(value: Any) -> float | None:
    """Seconds for a compose duration ('1m30s', '10s'), None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not _COMPOSE_DURATION.match(text):
        return None
    return sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(text))


def prom_duration_ok(value: Any) -> bool:
    """Prometheus duration syntax (5m, 1h30m, 15s)."""
    return isinstance(value, str) and bool(_PROM_DURATION.match(value))


def seconds(value: Any) -> float | None:
    """stagectl.yaml-style duration → seconds (None when unparsable)."""
    try:
        return parse_duration(value)
    except ValueError:
        return None


def resolve(text: Any, env: Mapping[str, str]) -> str:
    """A compose string with ${VAR} interpolation applied (errors for :? leave the text as is)."""
    try:
        return interpolate(str(text), env)
    except Exception:  # a required variable missing is reported by env.compose_vars_defined
        return str(text)


def depends_on(service: Mapping[str, Any]) -> dict[str, dict]:
    """depends_on in either short (list) or long (mapping) syntax → {name: options}."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {str(name): {} for name in raw}
    return {str(k): (v or {}) for k, v in raw.items()}


def port_mappings(service: Mapping[str, Any], env: Mapping[str, str]) -> list[dict[str, Any]]:
    """ports in short ('127.0.0.1:8080:8080') or long syntax → [{host_ip, published, target}]."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append({
                "host_ip": entry.get("host_ip"),
                "published": _int(resolve(entry.get("published", ""), env)),
                "target": _int(entry.get("target")),
                "raw": entry,
            })
            continue
        text = resolve(entry, env).split("/")[0]
        parts = text.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            host_ip, (published, target) = None, parts
        else:
            host_ip, published, target = None, None, parts[0]
        out.append({"host_ip": host_ip, "published": _int(published), "target": _int(target), "raw": entry})
    return out


def volume_mounts(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    """volumes in short ('src:dst:ro') or long syntax → [{type, source, target, read_only}]."""
    out = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            out.append({
                "type": entry.get("type", "volume"),
                "source": entry.get("source"),
                "target": entry.get("target"),
                "read_only": bool(entry.get("read_only")),
            })
            continue
        parts = str(entry).split(":")
        if len(parts) == 1:
            out.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        out.append({"type": kind, "source": source, "target": target, "read_only": "ro" in parts[2:]})
    return out


def service_networks(service: Mapping[str, Any]) -> list[str]:
    raw = service.get("networks") or []
    return [str(n) for n in (raw if isinstance(raw, list) else raw.keys())]


def env_mapping(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment in list or mapping syntax → {name: raw value}."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (str(item).split("=", 1) for item in raw)
        return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def url_host_port(url: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        return parts.hostname, parts.port
    except ValueError:
        return None, None


def as_int(value: Any) -> int | None:
    return _int(value)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
