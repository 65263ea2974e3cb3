"""The OpenAI-compatible model (the stub in staging) via the official async client.

``openai`` is never imported at module level: its pydantic models for every OpenAI type cost
~0.7-1 s of CPU at import, and this module is on the dashboard's start-up path (stagectl
pre-imports the app on a 2-core machine while the other services start). The client is built in
a worker thread once start-up is complete (``start_loading``) and the first completion awaits
that same load. The health probe does not need the client at all: it asks ``GET /models`` with
httpx, which is what ``client.models.list()`` did.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from .guard import Guard, ServiceCallFailed

log = logging.getLogger("inventario_dashboard.llm")


class LlmBadOutput(Exception):
    """The model answered, but not with the JSON the task asked for."""


class _Unreadable:
    def __init__(self, reason: str):
        self.reason = reason


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")   # NaN/Infinity: no JSON answer can carry them on


class LlmProbeFailed(Exception):
    """The model server answered the health probe, but not with a model list."""


def _import_client_class():
    """The slow part (~0.7-1 s of CPU): importing ``openai``. A function so tests can stand in."""
    from openai import AsyncOpenAI
    return AsyncOpenAI


class Llm:
    """Guarded chat completions that must return a JSON object."""

    def __init__(self, settings, guard: Guard, http_transport: httpx.AsyncBaseTransport | None = None):
        self.guard = guard
        self.model = settings.openai_model
        self._api_key = settings.openai_api_key   # SecretStr: revealed only when building a request
        self._base_url = settings.openai_base_url.rstrip("/")
        self._timeout = float(settings.openai_timeout)
        # Plain http never does TLS, so skip building a verifying SSL context (~40-140 ms CPU
        # on the start-up path); https keeps httpx's default certificate verification.
        plain_http = urlsplit(self._base_url).scheme == "http"
        self._http = httpx.AsyncClient(timeout=self._timeout, verify=not plain_http, transport=http_transport)
        self._load: asyncio.Task | None = None
        self._lock = threading.Lock()   # guards _client/_closed between the loader thread and close()
        self._client = None             # openai.AsyncOpenAI once loaded
        self._closed = False
        self._load_error: str | None = None

    @property
    def endpoint_in_use(self) -> str:
        """The base URL both the probe and the completions use (no key in it)."""
        return self._base_url

    @property
    def client(self):
        """The ``openai.AsyncOpenAI`` client, or None while it is not (yet) built."""
        return self._client

    # --- lazy client
    def start_loading(self, then: Callable[[], None] | None = None) -> None:
        """Begin importing ``openai`` and building the client in a worker thread (once); ``then``
        runs on the event loop once that load has ended, whether it built a client or not."""
        if self._load is None and not self._closed:
            self._load = asyncio.get_running_loop().create_task(self._load_client(then), name="openai-client-load")

    async def _load_client(self, then: Callable[[], None] | None = None) -> None:
        try:
            await asyncio.to_thread(self._build_client)
        except Exception as exc:   # openai missing or broken: AI requests fail, the rest serves
            self._load_error = f"{type(exc).__name__}: {exc}"
            log.error("openai client unavailable, AI requests will fail: %s", self._load_error)
        if then is not None:
            then()

    def _build_client(self) -> None:
        """Worker thread: the slow import, then the client — unless close() came first."""
        if self._closed:
            return
        client_class = _import_client_class()
        with self._lock:
            if self._closed:
                return
            self._client = client_class(
                api_key=self._api_key.get_secret_value() or "unset", base_url=self._base_url,
                timeout=self._timeout,
                max_retries=0)   # retries are ours (tenacity) so the breaker sees every attempt

    async def _ready_client(self):
        """The client, loading it first if needed; ServiceCallFailed when it cannot exist."""
        self.start_loading()
        if self._load is not None:
            # wait, not await: a cancelled request must not cancel the load others wait for, and
            # a load cancelled by close() must end here as "client_closed", not as a cancellation
            await asyncio.wait({self._load})
        client = self._client
        if client is None:
            reason = "client_closed" if self._closed else f"client_unavailable ({self._load_error})"
            raise ServiceCallFailed(self.guard.service, reason)
        return client

    async def close(self) -> None:
        """Close the client if it was built. A load still running is cancelled and its thread
        builds nothing (checked under the lock), so shutdown neither waits for it nor leaks."""
        with self._lock:
            self._closed = True
            client = self._client
        load = self._load
        if load is not None and not load.done():
            load.cancel()
        try:
            if client is not None:
                await client.close()
        finally:
            await self._http.aclose()

    # --- calls
    async def probe(self) -> None:
        """Health probe: list the models (2xx with a JSON ``data`` list)."""
        response = await self._http.get(
            f"{self._base_url}/models",
            headers={"Authorization": f"Bearer {self._api_key.get_secret_value() or 'unset'}"})
        if not response.is_success:
            raise LlmProbeFailed(f"GET /models answered HTTP {response.status_code}")
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            raise LlmProbeFailed("GET /models answered no JSON object") from None
        if not isinstance(data, list):
            raise LlmProbeFailed("GET /models answered no 'data' list")

    async def complete_json(self, task: str, instructions: str, payload: dict) -> dict:
        """Ask the model for a JSON object for ``task``; raises LlmBadOutput on anything else."""
        client = await self._ready_client()   # outside the breaker: a slow import is no LLM failure

        from openai import APIResponseValidationError  # loaded already: _ready_client imported it

        async def run():
            try:
                return await client.chat.completions.create(
                    model=self.model, temperature=0,
                    response_format={"type": "json_object"},
                    messages=[{"role": "system", "content": f"TASK: {task}\n{instructions}"},
                              {"role": "user", "content": json.dumps(payload)}])
            except (ValueError, APIResponseValidationError) as exc:
                # The server answered, with a body that is no completion: a 502 for this request,
                # not retried (the same prompt gets the same answer) and no outage for the breaker.
                return _Unreadable(type(exc).__name__)
        # Completions of a read-only task are idempotent, so they may be retried.
        response = await self.guard.read(run)
        if isinstance(response, _Unreadable):
            raise LlmBadOutput(f"model answer is not a completion: {response.reason}")
        try:
            content = response.choices[0].message.content or ""
            data = json.loads(content, parse_constant=_reject_constant)
        except (IndexError, AttributeError, TypeError, ValueError) as exc:
            raise LlmBadOutput(f"model output is not JSON: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise LlmBadOutput("model output is not a JSON object")
        return data
