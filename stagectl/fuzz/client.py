"""One fuzz request: sent exactly as prepared, from a fresh loopback source address, and judged.

Each request comes from its own 127.a.b.c (stagectl/loopback.py): the dashboard limits /api per
key and peer address, so the fuzz never spends 127.0.0.1's window that later phases use, and a
429 here means the limiter is wrong, not that the fuzz was fast.
"""

from __future__ import annotations

import base64
import dataclasses
import shlex
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from stagectl.loopback import fresh_loopback, source_headers

# docs/contract.md §6: on every answer (HSTS too when DASHBOARD_ENABLE_HSTS=true)
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")
HSTS = "Strict-Transport-Security"
REQUEST_ID = "X-Request-ID"
KEY_HEADER = "X-API-Key"
KEY_PLACEHOLDER = "$DASHBOARD_API_KEY"
BODY_CAP = 65_536  # bytes read of an answer; an event stream is closed after its headers


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str):
        self.address = address
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (transport error)
    problems: list[str]
    error: str | None = None


def required_headers(hsts: bool) -> tuple[str, ...]:
    return (*SECURITY_HEADERS, *((HSTS,) if hsts else ()), REQUEST_ID)


def send(prepared: requests.PreparedRequest, *, hsts: bool, timeout_s: float) -> Answer:
    """Send `prepared` from a fresh loopback address; the problems with its answer (5xx, a missing
    header, no answer at all)."""
    session = requests.Session()
    adapter = _FromAddress(fresh_loopback())
    session.mount("http://", adapter)
    prepared.headers.update(source_headers(adapter.address))
    try:
        response = session.send(prepared, stream=True, timeout=(5, timeout_s), allow_redirects=False)
    except requests.RequestException as exc:
        session.close()
        return Answer(None, [f"no answer: {type(exc).__name__}"], error=type(exc).__name__)
    try:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.raw.read(BODY_CAP, decode_content=False)
    except Exception:  # a cut-off body after a status line: the status and headers are what is judged
        pass
    finally:
        response.close()
        session.close()
    problems = []
    if response.status_code >= 500:
        problems.append(f"status {response.status_code}")
    missing = [h for h in required_headers(hsts) if h not in response.headers]
    if missing:
        problems.append("missing " + ", ".join(missing))
    return Answer(response.status_code, problems)


def curl_command(prepared: requests.PreparedRequest) -> str:
    """The request as a curl command line; the key is the variable's name, never its value."""
    parts = ["curl", "-sS", "-i", "-X", prepared.method or "GET"]
    raw = prepared.body
    body = raw.encode() if isinstance(raw, str) else bytes(raw) if isinstance(raw, bytes | bytearray) else b""
    for name, header in prepared.headers.items():
        value = header.decode("latin-1") if isinstance(header, bytes) else str(header)
        if name.lower() in ("content-length", "connection", "accept-encoding", "user-agent"):
            continue
        value = KEY_PLACEHOLDER if name.lower() == KEY_HEADER.lower() else value
        parts += ["-H", f'"{name}: {value}"' if value == KEY_PLACEHOLDER else shlex.quote(f"{name}: {value}")]
    url = shlex.quote(prepared.url or "")
    if not body:
        return " ".join([*parts, url])
    try:
        text = body.decode("utf-8")
        if text.isprintable():
            return " ".join([*parts, "--data-binary", shlex.quote(text), url])
    except UnicodeDecodeError:
        pass
    encoded = base64.b64encode(body).decode()
    return f"printf %s {encoded} | base64 -d | " + " ".join([*parts, "--data-binary", "@-", url])
