"""The LLM stand-in: OpenAI-compatible answers that are a pure function of the request, bearer
auth when a key is set, and the fault modes the chaos tests switch — checked with the official
``openai`` client against the real stub process."""
from __future__ import annotations

import json
import time

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
