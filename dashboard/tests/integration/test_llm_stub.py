"""The LLM stand-in: OpenAI-compatible answers that are a pure function of the request, bearer
auth when a key is set, and the fault modes the chaos tests switch — checked with the official
``openai`` client against the real stub process."""
from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import dashboard_procs as dp
import httpx
import openai
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def stub(deps):
    key = deps.env["OPENAI_API_KEY"]
    admin = httpx.Client(base_url=deps.llm_url, headers={"Authorization": f"Bearer {key}"}, timeout=5)
    client = openai.OpenAI(api_key=key, base_url=deps.llm_url + "/v1", timeout=1.5, max_retries=0)
    yield admin, client
    assert admin.post("/_admin/mode", json={"mode": "normal"}).status_code == 200
    admin.close()


def ask(client, task: str, payload: dict) -> dict:
    answer = client.chat.completions.create(
        model="gpt-4o-mini", response_format={"type": "json_object"},
        messages=[{"role": "system", "content": f"TASK: {task}"}, {"role": "user", "content": json.dumps(payload)}])
    return json.loads(answer.choices[0].message.content)


def test_models_and_deterministic_tasks(stub):
    _, client = stub
    assert "gpt-4o-mini" in [m.id for m in client.models.list().data]
    payload = {"target_stock": 10, "products": [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 50}]}
    first, second = ask(client, "restock_recommendations", payload), ask(client, "restock_recommendations", payload)
    assert first == second == {"recommendations": [
        {"sku": "A", "action": "reorder", "quantity": 7, "reason": "stock 3 below target 10"}]}
    items = ask(client, "invoice_extraction", {"text": "header\n2 x SKU-1 bolts @ 0.25\n10x SKU-2\nnoise"})["items"]
    assert items == [{"sku": "SKU-1", "quantity": 2, "description": "bolts", "unit_price": 0.25},
                     {"sku": "SKU-2", "quantity": 10, "description": "", "unit_price": None}]


def test_bearer_key_required(deps):
    bad = openai.OpenAI(api_key="wrong", base_url=deps.llm_url + "/v1", timeout=2, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.post(deps.llm_url + "/_admin/mode", json={"mode": "error"}, timeout=2).status_code == 401
    assert httpx.get(deps.llm_url + "/health", timeout=2).json()["mode"] == "normal"


def test_fault_modes(stub):
    admin, client = stub
    assert admin.post("/_admin/mode", json={"mode": "bogus"}).status_code == 400
    assert admin.post("/_admin/mode", json={"mode": "error"}).json() == {"mode": "error"}
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    admin.post("/_admin/mode", json={"mode": "hang"})
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.models.list()
    assert time.monotonic() - started < 3
    assert httpx.get(admin.base_url.join("/health"), timeout=2).json()["mode"] == "hang"
    admin.post("/_admin/mode", json={"mode": "normal"})
    assert client.models.list().data


# --- Properties the server itself must keep (it is the stdlib ThreadingHTTPServer, not uvicorn) ---

def start_stub(tmp_path, key: str, **env: str) -> tuple[dp.Proc, str]:
    """A stub process of this test's own (modes switched here never reach the shared one)."""
    port = dp.free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "OPENAI_API_KEY": key, "LLM_STUB_MODE": "normal", **env}
    proc = dp.Proc("own-llm-stub", [sys.executable, "-m", "inventario_dashboard.llm_stub", "--host", "127.0.0.1",
                                    "--port", str(port)], tmp_path / "own-llm.log",
                   lambda: httpx.get(url + "/health", timeout=1).status_code == 200, env=full_env)
    return proc.start(), url


@pytest.fixture
def own_stub(tmp_path):
    key = secrets.token_urlsafe(12)
    proc, url = start_stub(tmp_path, key, LLM_STUB_SLOW_SECONDS="0.6")
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=5)
    yield proc, admin
    admin.close()
    proc.close()


def park_request(admin: httpx.Client) -> socket.socket:
    """Send GET /v1/models on a raw socket and return once the stub has taken it in (its call count
    rose), leaving it waiting for an answer."""
    calls = admin.get("/health").json()["calls"]
    host, port = str(admin.base_url).removeprefix("http://").rstrip("/").split(":")
    sock = socket.create_connection((host, int(port)), timeout=2)
    sock.sendall(f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: {admin.headers['authorization']}\r\n\r\n".encode())
    dp.wait_until(lambda: admin.get("/health").json()["calls"] == calls + 1, 3, "the parked request taken in")
    return sock


def test_hang_parks_only_its_own_requests(own_stub):
    """A request parked in "hang" must not block the server: catches a single-threaded server or
    a lock held while hanging."""
    _, admin = own_stub
    assert admin.post("/_admin/mode", json={"mode": "hang"}).status_code == 200
    parked = park_request(admin)
    try:
        started = time.monotonic()
        assert admin.get("/health").json()["mode"] == "hang"
        assert admin.post("/_admin/mode", json={"mode": "normal"}).json() == {"mode": "normal"}
        assert [m["id"] for m in admin.get("/v1/models").json()["data"]] == ["gpt-4o-mini", "gpt-4o", "stub-model"]
        assert time.monotonic() - started < 1.5
        parked.settimeout(0.3)
        with pytest.raises(socket.timeout):    # still no answer for the parked one, even in normal mode
            parked.recv(1)
    finally:
        parked.close()


def test_slow_mode_delays_v1_concurrently_and_not_health(own_stub):
    """LLM_STUB_SLOW_SECONDS delays each /v1 answer, in parallel (not one after the other)."""
    _, admin = own_stub
    assert admin.post("/_admin/mode", json={"mode": "slow"}).status_code == 200
    started = time.monotonic()
    assert admin.get("/health").status_code == 200
    assert time.monotonic() - started < 0.5
    with ThreadPoolExecutor(3) as pool:
        started = time.monotonic()
        statuses = list(pool.map(lambda _: admin.get("/v1/models").status_code, range(3)))
        elapsed = time.monotonic() - started
    assert statuses == [200, 200, 200]
    assert 0.6 <= elapsed < 1.5, elapsed


def test_sigterm_ends_the_stub_despite_parked_requests(own_stub):
    """`stagectl down` must not wait on requests that will never be answered."""
    proc, admin = own_stub
    assert admin.post("/_admin/mode", json={"mode": "hang"}).status_code == 200
    parked = park_request(admin)
    try:
        started = time.monotonic()
        os.killpg(proc.popen.pid, signal.SIGTERM)
        proc.popen.wait(timeout=3)
        assert time.monotonic() - started < 1.5
    finally:
        parked.close()


def test_connection_survives_rejected_requests_with_bodies(own_stub):
    """A 401/400 answered before the body is used must still drain it: the next request on the same
    keep-alive connection (how the openai client's pool works) is parsed correctly."""
    _, admin = own_stub
    host, port = str(admin.base_url).removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=3)
    try:
        conn.request("POST", "/_admin/mode", body=json.dumps({"mode": "error"}), headers={"Authorization": "Bearer no"})
        first = conn.getresponse()
        assert (first.status, json.loads(first.read())["error"]["code"]) == (401, "invalid_api_key")
        conn.request("GET", "/health")
        second = conn.getresponse()
        assert (second.status, json.loads(second.read())["mode"]) == (200, "normal")
    finally:
        conn.close()


def test_unknown_routes_and_methods_answer_like_before(own_stub):
    _, admin = own_stub
    missing = admin.get("/v1/embeddings")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    wrong = admin.get("/v1/chat/completions")
    assert (wrong.status_code, wrong.json(), wrong.headers["allow"]) == (405, {"detail": "Method Not Allowed"}, "POST")
    assert httpx.get(str(admin.base_url).rstrip("/") + "/v1/models", timeout=2).status_code == 401


def test_chunked_request_body_is_read(own_stub):
    _, admin = own_stub
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    answer = admin.post("/v1/chat/completions", content=iter([body[:10], body[10:]]),
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert json.loads(answer.json()["choices"][0]["message"]["content"])["echo"] == "hi"


def test_initial_mode_comes_from_env(tmp_path):
    key = secrets.token_urlsafe(12)
    proc, url = start_stub(tmp_path, key, LLM_STUB_MODE="error")
    try:
        assert httpx.get(url + "/health", timeout=2).json()["mode"] == "error"
        assert httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=2).status_code == 500
    finally:
        proc.close()


def test_import_stays_light():
    """The start-up promise: importing the stub pulls in none of the heavy web stack."""
    heavy = ("fastapi", "pydantic", "starlette", "uvicorn", "anyio", "asyncio")
    out = subprocess.run([sys.executable, "-c", "import sys, inventario_dashboard.llm_stub; "
                          f"print(','.join(m for m in {heavy!r} if m in sys.modules))"],
                         capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == ""
