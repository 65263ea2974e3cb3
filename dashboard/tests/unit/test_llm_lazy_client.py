"""The LLM client: ``openai`` is loaded once, off the start-up path and outside the breaker; the
health probe is a plain ``GET /models``; close() is safe before, during and after the load."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from inventario_dashboard.clients import llm as llm_mod
from inventario_dashboard.clients.guard import Guard, ServiceCallFailed
from inventario_dashboard.resilience.breaker import BreakerState, CircuitBreaker

API_KEY = "sk-unit-test-secret-7f3a"
BASE_URL = "http://127.0.0.1:9/v1"   # never contacted: completions use FakeClient, probes a MockTransport


class FakeClient:
    """Stands in for openai.AsyncOpenAI: records its arguments, answers a fixed JSON object."""
    instances: list[FakeClient] = []

    def __init__(self, **kwargs):
        self.kwargs, self.closed, self.calls = kwargs, 0, 0
        FakeClient.instances.append(self)
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    async def _create(self, **_):
        self.calls += 1
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content='{"ok": 1}'))])

    async def close(self):
        self.closed += 1


class SlowImport:
    """Stands in for ``from openai import AsyncOpenAI``: counts imports, blocks until released."""

    def __init__(self, fail: Exception | None = None):
        self.count, self.fail = 0, fail
        self.release, self.entered = threading.Event(), threading.Event()

    def __call__(self):
        self.count += 1
        self.entered.set()
        assert self.release.wait(5), "test never released the import"
        if self.fail is not None:
            raise self.fail
        return FakeClient


@pytest.fixture
def make_llm(make_settings, monkeypatch):
    FakeClient.instances = []

    def make(importer=None, transport=None, failures: list | None = None):
        if importer is not None:
            monkeypatch.setattr(llm_mod, "_import_client_class", importer)
        settings = make_settings(openai_api_key=API_KEY, openai_base_url=BASE_URL, openai_timeout=3)
        breaker = CircuitBreaker("openai", failure_threshold=1, recovery_timeout=60, half_open_max_calls=1)
        reported = failures if failures is not None else []
        guard = Guard("openai", breaker, reported.append, retry_attempts=1)
        return llm_mod.Llm(settings, guard, http_transport=transport), breaker
    return make


def test_concurrent_first_calls_share_one_import_and_one_client(make_llm):
    importer = SlowImport()
    failures: list[str] = []
    llm, breaker = make_llm(importer, failures=failures)

    async def scenario():
        llm.start_loading()
        calls = [asyncio.create_task(llm.complete_json("t", "i", {"n": n})) for n in range(5)]
        await asyncio.to_thread(importer.entered.wait, 5)
        llm.start_loading()            # a second kick-off while loading must not start another
        await asyncio.sleep(0.05)
        assert not any(c.done() for c in calls), "completions ran before the client existed"
        importer.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*calls), 5)
        await llm.close()
        return answers

    answers = asyncio.run(scenario())
    assert answers == [{"ok": 1}] * 5
    assert importer.count == 1
    assert len(FakeClient.instances) == 1 and FakeClient.instances[0].calls == 5
    assert FakeClient.instances[0].kwargs["max_retries"] == 0
    assert FakeClient.instances[0].closed == 1
    # the wait for the import was outside the breaker: nothing counted, nothing reported
    assert breaker.state is BreakerState.CLOSED and breaker.failure_count == 0 and failures == []


def test_import_failure_fails_ai_calls_clearly_and_is_logged_once(make_llm, caplog):
    importer = SlowImport(fail=ImportError("No module named 'openai'"))
    importer.release.set()
    failures: list[str] = []
    llm, breaker = make_llm(importer, failures=failures)

    async def scenario():
        reasons = []
        for _ in range(3):
            with pytest.raises(ServiceCallFailed) as info:
                await asyncio.wait_for(llm.complete_json("t", "i", {}), 5)
            reasons.append(info.value)
        await llm.close()
        return reasons

    with caplog.at_level("ERROR", logger="inventario_dashboard.llm"):
        errors = asyncio.run(scenario())
    assert [e.service for e in errors] == ["openai"] * 3
    assert all("client_unavailable" in e.reason and "ImportError" in e.reason for e in errors)
    assert importer.count == 1
    logged = [r for r in caplog.records if "openai client unavailable" in r.getMessage()]
    assert len(logged) == 1
    # a missing library is not the model server failing: the breaker and the level are untouched
    assert breaker.failure_count == 0 and failures == []


def test_close_before_any_load_builds_nothing(make_llm):
    importer = SlowImport()
    importer.release.set()
    llm, _ = make_llm(importer)

    async def scenario():
        await llm.close()
        llm.start_loading()
        with pytest.raises(ServiceCallFailed) as info:
            await llm.complete_json("t", "i", {})
        return info.value

    assert asyncio.run(scenario()).reason == "client_closed"
    assert importer.count == 0 and FakeClient.instances == []


def test_close_racing_the_load_returns_at_once_and_leaks_no_client(make_llm):
    importer = SlowImport()
    llm, _ = make_llm(importer)

    async def scenario():
        llm.start_loading()
        waiting = asyncio.create_task(llm.complete_json("t", "i", {}))
        await asyncio.to_thread(importer.entered.wait, 5)
        started = time.monotonic()
        await asyncio.wait_for(llm.close(), 2)
        close_s = time.monotonic() - started
        with pytest.raises(ServiceCallFailed) as info:
            await asyncio.wait_for(waiting, 2)
        importer.release.set()   # the import finishes after close(); asyncio.run joins the thread
        return close_s, info.value

    close_s, error = asyncio.run(scenario())
    assert close_s < 1.0
    assert error.reason == "client_closed"
    assert importer.count == 1 and FakeClient.instances == []   # built nothing after close()


def test_real_openai_client_is_built_lazily(make_llm):
    llm, _ = make_llm()

    async def scenario():
        assert llm.client is None
        llm.start_loading()
        await asyncio.wait_for(llm._ready_client(), 30)
        client = llm.client
        await llm.close()
        return client

    client = asyncio.run(scenario())
    import openai
    assert isinstance(client, openai.AsyncOpenAI) and client.max_retries == 0
    assert str(client.base_url).rstrip("/") == BASE_URL


def _probe(make_llm, handler) -> Exception | None:
    llm, _ = make_llm(transport=httpx.MockTransport(handler))

    async def scenario():
        try:
            await llm.probe()
        except Exception as exc:   # returned so the test can judge it
            return exc
        finally:
            await llm.close()
        return None
    return asyncio.run(scenario())


def test_probe_lists_models_with_the_bearer_key(make_llm):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.get("authorization")))
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})

    assert _probe(make_llm, handler) is None
    assert seen == [("GET", BASE_URL + "/models", f"Bearer {API_KEY}")]
    assert "openai" not in llm_mod.__dict__


@pytest.mark.parametrize("response", [
    httpx.Response(401, json={"error": "bad key"}),
    httpx.Response(503, json={"data": []}),
    httpx.Response(200, text="not json"),
    httpx.Response(200, json=[{"id": "m"}]),
    httpx.Response(200, json={"object": "list"}),
    httpx.Response(200, json={"data": "m"}),
], ids=["401", "503", "no-json", "json-list", "no-data", "data-not-list"])
def test_probe_fails_on_anything_but_a_model_list(make_llm, response):
    error = _probe(make_llm, lambda request: response)
    assert isinstance(error, llm_mod.LlmProbeFailed)
    assert API_KEY not in str(error)


def test_probe_transport_error_propagates_without_the_key(make_llm):
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)
    error = _probe(make_llm, handler)
    assert isinstance(error, httpx.ConnectError) and API_KEY not in str(error)


def test_importing_the_app_does_not_import_openai():
    code = ("import json, sys, inventario_dashboard.app; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'openai')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("fail", [None, ImportError("No module named 'openai'")])
def test_the_callback_after_the_load_runs_once_whether_the_load_built_a_client_or_not(make_llm, fail):
    importer = SlowImport(fail=fail)
    importer.release.set()
    llm, _ = make_llm(importer)
    ran: list[bool] = []

    async def scenario():
        llm.start_loading(then=lambda: ran.append(llm.client is not None))
        llm.start_loading(then=lambda: ran.append(True))  # a second kick-off neither loads nor calls back
        await asyncio.wait_for(asyncio.wait({llm._load}), 5)
        await llm.close()

    asyncio.run(scenario())
    assert ran == [fail is None]
