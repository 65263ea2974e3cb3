"""A small deterministic OpenAI-compatible server: the LLM stand-in of the staging stack.

Run: ``python -m inventario_dashboard.llm_stub --host 127.0.0.1 --port 8090``.
Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``GET /health`` and
``POST /_admin/mode {"mode": "normal"|"error"|"slow"|"hang"}`` for chaos tests. The initial mode
comes from ``LLM_STUB_MODE``; the delay of "slow" from ``LLM_STUB_SLOW_SECONDS`` (default 3).
When ``OPENAI_API_KEY`` is set every /v1 and /_admin request needs ``Authorization: Bearer <key>``.

Answers are a pure function of the request (no randomness), so tests can assert on them. Tasks it
understands are named by a ``TASK: <name>`` line in the system message (see ``_TASKS``).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

MODES = ("normal", "error", "slow", "hang")
MODELS = ("gpt-4o-mini", "gpt-4o", "stub-model")
_LINE = re.compile(r"^\s*(?P<qty>\d+)\s*[xX×]\s*(?P<sku>[A-Za-z0-9_.-]+)(?P<desc>[^@]*?)"
                   r"(?:@\s*(?P<price>\d+(?:\.\d+)?))?\s*$")


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
        m = _LINE.match(line)
        if m:
            items.append({"sku": m["sku"], "quantity": int(m["qty"]),
                          "description": m["desc"].strip(" -:"),
                          "unit_price": float(m["price"]) if m["price"] else None})
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


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": code, "code": code}}, status_code=status)


def create_stub_app(api_key: str | None = None, mode: str = "normal",
                    slow_seconds: float = 3.0) -> FastAPI:
    """The stub as an ASGI app (tests may mount it in-process)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    app = FastAPI(title="LLM stub", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mode = mode
    app.state.calls = 0

    @app.middleware("http")
    async def auth_and_faults(request: Request, call_next):
        path = request.url.path
        if api_key and path != "/health":
            header = request.headers.get("authorization", "")
            given = header[7:] if header.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return _error(401, "invalid api key", "invalid_api_key")
        if path.startswith("/v1/"):
            app.state.calls += 1
            current = app.state.mode
            if current == "error":
                return _error(500, "stub in error mode", "server_error")
            if current == "slow":
                await asyncio.sleep(slow_seconds)
            elif current == "hang":
                await asyncio.Event().wait()   # never answers; the client's timeout must fire
        return await call_next(request)

    @app.get("/health")
    async def health():
        return {"status": "ok", "mode": app.state.mode, "calls": app.state.calls}

    @app.post("/_admin/mode")
    async def set_mode(request: Request):
        try:
            body = await request.json()
            new = body["mode"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 'expected {"mode": ...}', "bad_request")
        if new not in MODES:
            return _error(400, f"mode must be one of {list(MODES)}", "bad_request")
        app.state.mode = new
        return {"mode": new}

    @app.get("/v1/models")
    async def models():
        return {"object": "list",
                "data": [{"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in MODELS]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        try:
            body = await request.json()
            messages = body["messages"]
            model = body.get("model", MODELS[0])
            if not isinstance(messages, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(400, "expected a JSON body with a messages list", "invalid_request_error")
        content = _answer(messages)
        rid = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:24]
        return {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": len(json.dumps(messages)) // 4,
                          "completion_tokens": len(content) // 4,
                          "total_tokens": (len(json.dumps(messages)) + len(content)) // 4}}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inventario_dashboard.llm_stub",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LLM_STUB_PORT", "8090")))
    args = parser.parse_args(argv)
    app = create_stub_app(api_key=os.environ.get("OPENAI_API_KEY") or None,
                          mode=os.environ.get("LLM_STUB_MODE", "normal"),
                          slow_seconds=float(os.environ.get("LLM_STUB_SLOW_SECONDS", "3")))
    # A short graceful-shutdown bound: requests parked in "hang" mode must not block SIGTERM.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main()
