"""A stack stagectl did not start (a cluster, another machine): its URL and API key.

`stagectl smoke --url`, `bench --url` and `chaos --url` reach such a stack through the dashboard's
URL only. The key comes from the environment (`STAGECTL_API_KEY`, or the variable `--api-key-env`
names) or from a file (`--api-key-file`), never from argv, where `ps` would show it. What needs
more than the URL (a service's own port, a fault, a log file) is reported as not applicable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from stagectl.errors import ConfigError, PreflightError

DEFAULT_KEY_ENV = "STAGECTL_API_KEY"
REMOTE_BACKEND = "remote"  # the report's `backend` for a stack stagectl did not start


@dataclasses.dataclass(frozen=True)
class RemoteTarget:
    """The dashboard's base URL and its API key (`key_source` says where the key came from)."""

    url: str
    api_key: str = dataclasses.field(repr=False)
    key_source: str


def check_url(url: str) -> str:
    """The URL without a trailing slash; ConfigError (exit 2) for anything but http(s)://host[:port][/path]."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--url {url!r}: not an http:// or https:// URL with a host",
                          hint="e.g. --url https://dashboard.staging.example.com or --url http://127.0.0.1:8080")
    if parts.username or parts.password:
        raise ConfigError("--url must not carry credentials (they would show in argv and in the report)",
                          hint=f"put the API key in ${DEFAULT_KEY_ENV} or a file for --api-key-file")
    if parts.query or parts.fragment:
        raise ConfigError(f"--url {url!r}: a base URL has no query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ConfigError(f"--url {url!r}: {exc}") from None
    return url.strip().rstrip("/")


def read_key_file(path: Path) -> str:
    """The key in `path` (surrounding whitespace dropped); ConfigError when unreadable or empty."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"--api-key-file {path}: cannot read it: {reason}") from None
    if not key:
        raise ConfigError(f"--api-key-file {path}: the file is empty")
    if "\n" in key:
        raise ConfigError(f"--api-key-file {path}: holds more than one line; put only the key in it")
    return key


def remote_target(url: str, *, api_key_file: Path | None = None, api_key_env: str | None = None,
                  environ: Mapping[str, str] | None = None) -> RemoteTarget:
    """The target of `--url`: the checked URL and the key from `api_key_file`, else from the
    variable `api_key_env` (default STAGECTL_API_KEY). ConfigError (exit 2) when there is no key."""
    environ = os.environ if environ is None else environ
    checked = check_url(url)
    if api_key_file is not None:
        if api_key_env:
            raise ConfigError("give the API key one way: --api-key-file or --api-key-env, not both")
        return RemoteTarget(checked, read_key_file(api_key_file), f"file {api_key_file}")
    name = api_key_env or DEFAULT_KEY_ENV
    key = (environ.get(name) or "").strip()
    if not key:
        raise ConfigError(f"--url {checked}: no API key: ${name} is not set",
                          hint=f"export {name}=… (or --api-key-file FILE); a key on the command line would show in `ps`")
    return RemoteTarget(checked, key, f"${name}")


def require_reachable(target: RemoteTarget, timeout_s: float = 10.0) -> None:
    """PreflightError (exit 4) naming the URL when nothing answers HTTP there (refused, no route,
    DNS, TLS, timeout). Any HTTP answer counts as reachable: what it says is the suites' job."""
    import httpx

    url = f"{target.url}/health/live"
    try:
        httpx.get(url, timeout=timeout_s)
    except httpx.TransportError as exc:
        kind = type(exc).__name__
        raise PreflightError(f"nothing answers at {target.url} ({kind}: {exc or 'no detail'})",
                             hint="is the stack running and the URL right (a port-forward still open)?") from None


def target_from_options(url: str | None, *, api_key_file: Path | None, api_key_env: str | None = None,
                        backend: str | None = None) -> RemoteTarget | None:
    """`--url`'s target for a command (None without --url), its key added to the invocation's
    masker, and checked to answer (exit 4 naming the URL when nothing does)."""
    from stagectl import context

    if url is None:
        if api_key_file is not None:
            raise ConfigError("--api-key-file is for --url (a stack stagectl did not start)")
        return None
    if backend:
        raise ConfigError("--url and --backend exclude each other: a stack at a URL has no backend of ours")
    target = remote_target(url, api_key_file=api_key_file, api_key_env=api_key_env)
    context.current().masker.add(target.api_key)
    require_reachable(target)
    return target
