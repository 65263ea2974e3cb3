"""A small deterministic OpenAI-compatible server: the LLM stand-in of the staging stack.

Run: ``python -m inventario_dashboard.llm_stub --host 127.0.0.1 --port 8090``.
Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``GET /health`` and
``POST /_admin/mode {"mode": "normal"|"error"|"slow"|"hang"|"bad_shape"|"not_json"}`` for chaos and
hardening tests (``bad_shape``: JSON of the wrong types; ``not_json``: a 200 whose body is not JSON). The initial mode
comes from ``LLM_STUB_MODE``; the delay of "slow" from ``LLM_STUB_SLOW_SECONDS`` (default 3).
When ``OPENAI_API_KEY`` is set every /v1 and /_admin request needs ``Authorization: Bearer <key>``.

Answers are a pure function of the request (no randomness), so tests can assert on them. Tasks it
understands are named by a ``TASK: <name>`` line in the system message (see ``_TASKS``).

It is served by the standard library's ``ThreadingHTTPServer``, not FastAPI/uvicorn: it starts with
every other service of ``stagectl up`` on two cores, and the stdlib costs ≈0.09 s CPU to the first
answer where FastAPI cost ≈0.7 s and Starlette+uvicorn ≈0.22 s. One thread per connection keeps a
request parked in "hang" mode from blocking the others. The HTTP surface (routes, status codes,
JSON bodies, 404/405/307 answers) is the one the FastAPI version had.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import select
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

MODES = ("normal", "error", "slow", "hang", "bad_shape", "not_json")
MODELS = ("gpt-4o-mini", "gpt-4o", "stub-model")
# An invoice line is "<qty> x <sku> [description] [@ <price>]". Parsed in two linear steps (a head
# regex whose parts cannot overlap, then str.partition at the first "@"): the one regex with a
# lazy description before an optional price backtracked quadratically (~10 s on 20 kB of text).
_HEAD = re.compile(r"\s*(?P<qty>\d++)\s*+[xX×]\s*+(?P<sku>[A-Za-z0-9_.-]++)")
_PRICE = re.compile(r"\s*+(?P<price>\d++(?:\.\d++)?+)\s*+")
# Numbers beyond these are not an invoice line (and int() refuses >4300 digits with a ValueError).
_MAX_QTY_DIGITS, _MAX_PRICE_DIGITS = 12, 15


def _parse_line(line: str) -> dict | None:
    head = _HEAD.match(line)
    if head is None or len(head["qty"]) > _MAX_QTY_DIGITS:
        return None
    desc, at, rest = line[head.end():].partition("@")
    price = None
    if at:
        found = _PRICE.fullmatch(rest)
        if found is None or len(found["price"]) > _MAX_PRICE_DIGITS:
            return None
        price = float(found["price"])
    return {"sku": head["sku"], "quantity": int(head["qty"]), "description": desc.strip().strip(" -:"),
            "unit_price": price}


def _restock(payload: dict) -> dict:
    target = int(payload.get("target_stock", 20))
    recs = []
    for p in payload.get("products", []):
        qty = int(p.get("quantity", 0))
        if qty < target:
            recs.append({"sku": p.get("sku"), "action": "reorder", "quantity": target - qty,
                         "reason": f"stock {qty} below target {target}"})
    return {"recommendations": recs}


def _invoice(payload: dict) -> dict:
    items = []
    for line in str(payload.get("text", "")).splitlines():
        item = _parse_line(line)
        if item is not None:
            items.append(item)
    return {"items": items}


_TASKS = {"restock_recommendations": _restock, "invoice_extraction": _invoice}


def _answer(messages: list[dict]) -> str:
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    task = re.search(r"TASK:\s*(\w+)", system or "")
    if task and task[1] in _TASKS:
        try:
            payload = json.loads(user)
        except ValueError:
            payload = {}
        return json.dumps(_TASKS[task[1]](payload if isinstance(payload, dict) else {}))
    digest = hashlib.sha256(str(user).encode()).hexdigest()[:12]
    return json.dumps({"echo": str(user)[:200], "digest": digest})


class _NotJson:
    """Mode "not_json": a 200 labelled application/json whose body is not JSON."""
    body = b"<html>upstream proxy error</html>"


def _error(status: int, message: str, code: str) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": code, "code": code}}


def _models(server: StubServer, body: bytes) -> tuple[int, dict]:
    return 200, {"object": "list",
                 "data": [{"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in MODELS]}


def _chat(server: StubServer, body: bytes) -> tuple[int, dict]:
    try:
        request = json.loads(body)
        messages = request["messages"]
        model = request.get("model", MODELS[0])
        if not isinstance(messages, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _error(400, "expected a JSON body with a messages list", "invalid_request_error")
    server.count_completion()
    if server.mode == "bad_shape":     # valid JSON, wrong types: what a confused model answers
        content = json.dumps({"recommendations": 5, "items": {"sku": 1}})
    else:
        content = _answer(messages)
    rid = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:24]
    return 200, {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": 0, "model": model,
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}],
                 "usage": {"prompt_tokens": len(json.dumps(messages)) // 4,
                           "completion_tokens": len(content) // 4,
                           "total_tokens": (len(json.dumps(messages)) + len(content)) // 4}}


def _health(server: StubServer, body: bytes) -> tuple[int, dict]:
    return 200, {"status": "ok", "mode": server.mode, "calls": server.calls, "completions": server.completions}


def _set_mode(server: StubServer, body: bytes) -> tuple[int, dict]:
    try:
        new = json.loads(body)["mode"]
    except (ValueError, KeyError, TypeError):
        return _error(400, 'expected {"mode": ...}', "bad_request")
    if new not in MODES:
        return _error(400, f"mode must be one of {list(MODES)}", "bad_request")
    server.mode = new
    return 200, {"mode": new}


# path -> {method: handler}; a known path with another method answers 405, like FastAPI did
_ROUTES = {"/health": {"GET": _health}, "/_admin/mode": {"POST": _set_mode},
           "/v1/models": {"GET": _models}, "/v1/chat/completions": {"POST": _chat}}


class StubServer(ThreadingHTTPServer):
    """The stand-in as a server object; tests may run it in-process (``serve_forever`` in a thread)."""

    daemon_threads = True          # requests parked in "hang" never delay the exit
    request_queue_size = 2048      # uvicorn's backlog; the stdlib default of 5 drops bursts of connects

    def __init__(self, address: tuple[str, int], api_key: str | None = None, mode: str = "normal",
                 slow_seconds: float = 3.0):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        self.api_key, self.mode, self.slow_seconds = api_key, mode, slow_seconds
        self.calls = 0          # every /v1 request (health probes of /v1/models included)
        self.completions = 0    # chat completions answered (a retry shows here, a probe does not)
        self._calls_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def count_call(self) -> None:
        with self._calls_lock:
            self.calls += 1

    def count_completion(self) -> None:
        with self._calls_lock:
            self.completions += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as the openai client's connection pool expects
    timeout = 5                        # idle keep-alive connections close after 5 s, as uvicorn's did
    disable_nagle_algorithm = True     # headers and body are two writes; no 40 ms delayed-ACK stall
    server: StubServer

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def version_string(self) -> str:
        return "llm-stub"

    def log_message(self, format: str, *args) -> None:
        pass                           # no access log (uvicorn ran at log level "warning")

    def _dispatch(self) -> None:
        raw_path, _, query = self.path.partition("?")
        path = unquote(raw_path)
        try:
            body = self._read_body()   # always drained, so an early answer keeps the connection usable
        except ValueError:             # a bad Content-Length or chunk size: h11's answer under uvicorn
            self._send(400, b"Invalid HTTP request received.", "text/plain; charset=utf-8", {"connection": "close"})
            return
        try:
            status, payload, headers = self._route(path, query, body)
            if status is None:
                return
            data = b"" if payload is None else payload.body if isinstance(payload, _NotJson) else json.dumps(
                payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except Exception:              # what FastAPI's ServerErrorMiddleware answered; uvicorn then closed
            import traceback  # only on this path: it costs start-up import time
            traceback.print_exc()
            self._send(500, b"Internal Server Error", "text/plain; charset=utf-8", {"connection": "close"})
            return
        self._send(status, data, "application/json" if payload is not None else None, headers)

    def _route(self, path: str, query: str, body: bytes) -> tuple[int | None, dict | _NotJson | None, dict]:
        server = self.server
        if server.api_key and path != "/health":
            header = self.headers.get("authorization", "")
            given = header[7:] if header.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(given.encode(), server.api_key.encode()):
                return *_error(401, "invalid api key", "invalid_api_key"), {}
        if path.startswith("/v1/"):
            server.count_call()
            if server.mode == "error":
                return *_error(500, "stub in error mode", "server_error"), {}
            if server.mode == "not_json" and path == "/v1/chat/completions":
                server.count_completion()
                return 200, _NotJson(), {}
            if server.mode == "slow":
                time.sleep(server.slow_seconds)
            elif server.mode == "hang":
                self._hang()
                return None, None, {}
        methods = _ROUTES.get(path)
        if methods is None:
            other = path[:-1] if path.endswith("/") else path + "/"
            if path != "/" and other in _ROUTES:   # Starlette's redirect_slashes
                # relative: an absolute URL built from the Host header redirects to any host
                location = other + (f"?{query}" if query else "")
                return 307, None, {"location": location}
            return 404, {"detail": "Not Found"}, {}
        handler = methods.get(self.command)
        if handler is None:
            return 405, {"detail": "Method Not Allowed"}, {"allow": ", ".join(methods)}
        return *handler(server, body), {}

    def _hang(self) -> None:
        """Never answer; end the thread only once the client gives up (its socket reads as closed)."""
        self.close_connection = True
        while True:
            readable, _, _ = select.select([self.connection], [], [])
            try:
                if readable and not self.connection.recv(65536):
                    return
            except OSError:
                return

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass                   # trailers
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError(f"negative content-length {length}")
        return self.rfile.read(length)

    def _send(self, status: int, data: bytes, content_type: str | None, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        if content_type:
            self.send_header("content-type", content_type)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def make_server(host: str, port: int, api_key: str | None = None, mode: str = "normal",
                slow_seconds: float = 3.0) -> StubServer:
    """Bind the stand-in on host:port (port 0 = any free port; see ``server_address``)."""
    return StubServer((host, port), api_key=api_key, mode=mode, slow_seconds=slow_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inventario_dashboard.llm_stub",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LLM_STUB_PORT", "8090")))
    args = parser.parse_args(argv)
    mode = os.environ.get("LLM_STUB_MODE", "normal")
    slow_seconds = float(os.environ.get("LLM_STUB_SLOW_SECONDS", "3"))
    try:
        server = make_server(args.host, args.port, api_key=os.environ.get("OPENAI_API_KEY") or None,
                             mode=mode, slow_seconds=slow_seconds)
    except OSError as exc:             # e.g. the port is taken: one line and exit 1, as uvicorn did
        parser.exit(1, f"llm_stub: cannot listen on {args.host}:{args.port}: {exc}\n")
    # SIGTERM/SIGINT end the process at once, killed by that signal, as uvicorn (which re-raises
    # the signal after its shutdown) ended; requests parked in "hang" cannot delay it
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
