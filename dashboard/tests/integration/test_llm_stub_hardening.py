"""The LLM stand-in against hostile invoice text: linear-time parsing and bounded numbers (a
slow or crashing stand-in opens the dashboard's openai breaker)."""
from __future__ import annotations

import json

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def invoice(deps, text: str, timeout: float) -> httpx.Response:
    key = deps.env["OPENAI_API_KEY"]
    body = {"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "TASK: invoice_extraction"},
        {"role": "user", "content": json.dumps({"text": text})}]}
    return httpx.post(deps.llm_url + "/v1/chat/completions", json=body, timeout=timeout,
                      headers={"Authorization": f"Bearer {key}"})


def items(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text[:300]
    return json.loads(response.json()["choices"][0]["message"]["content"])["items"]


def test_backtracking_input_is_answered_at_once(deps):
    # ~10 s of regex backtracking before the fix; 3 s leaves a 2-core CI box plenty of room.
    for text in ("1x" + "a" * 19990 + "@", "1 x A" + " " * 19990 + "@x", "1 x " + "a-" * 9990 + "@"):
        assert items(invoice(deps, text, timeout=3)) == []


def test_huge_numbers_are_not_a_500(deps):
    assert items(invoice(deps, "9" * 5000 + " x SKU-1", timeout=5)) == []
    assert items(invoice(deps, "2 x SKU-1 @ " + "9" * 5000, timeout=5)) == []
    # the ordinary lines still parse exactly as before
    assert items(invoice(deps, "3 x SKU-1 blue pens @ 1.50\n2x SKU-2\nnot a line", timeout=5)) == [
        {"sku": "SKU-1", "quantity": 3, "description": "blue pens", "unit_price": 1.5},
        {"sku": "SKU-2", "quantity": 2, "description": "", "unit_price": None}]


def test_trailing_slash_redirect_is_relative(deps):
    key = deps.env["OPENAI_API_KEY"]
    response = httpx.get(deps.llm_url + "/v1/models/?a=1", follow_redirects=False,
                         headers={"Host": "evil.example", "Authorization": f"Bearer {key}"})
    assert response.status_code == 307 and response.headers["location"] == "/v1/models?a=1", response.headers
