"""End-to-end flows through the dashboard into its real dependencies."""

from __future__ import annotations

import psycopg
import pytest

from ._support import png_bytes


class TestEndToEnd:
    @pytest.mark.local_access("a direct connection to PostgreSQL (the rows behind the API)")
    def test_inventory_crud(self, cfg, api, unique, optimal):
        """Fault: a write is lost, not visible to reads (stale cache), or not removed."""
        sku = f"SMOKE-E2E-{unique}"
        created = api.post("/api/inventory", json={"sku": sku, "name": "e2e widget", "category": "smoke",
                                                   "price": 4.5, "quantity": 7})
        assert created.status_code == 201, created.text
        try:
            read = api.get(f"/api/inventory/{sku}")
            assert read.status_code == 200 and read.json()["item"]["quantity"] == 7, read.text
            updated = api.patch(f"/api/inventory/{sku}", json={"name": "e2e widget v2", "quantity_delta": -2,
                                                               "reason": "smoke sale"})
            assert updated.status_code == 200, updated.text
            reread = api.get(f"/api/inventory/{sku}").json()["item"]
            assert (reread["name"], reread["quantity"]) == ("e2e widget v2", 5), reread
            with psycopg.connect(host=cfg.require("POSTGRES_HOST"), port=cfg.int("POSTGRES_PORT"),
                                 user=cfg.require("POSTGRES_USER"), password=cfg.require("POSTGRES_PASSWORD"),
                                 dbname=cfg.require("POSTGRES_DB"), connect_timeout=5) as conn:
                row = conn.execute("select quantity from products where sku = %s", [sku]).fetchone()
                moves = conn.execute("select delta from stock_movements where sku = %s order by id", [sku]).fetchall()
            assert row == (5,) and [m[0] for m in moves] == [7, -2], (row, moves)
        finally:
            deleted = api.delete(f"/api/inventory/{sku}")
        assert deleted.status_code == 204, deleted.text
        gone = api.get(f"/api/inventory/{sku}")
        assert gone.status_code == 404 and gone.json()["error"] == "unknown_sku"

    def test_file_upload_and_fetch(self, api, unique, optimal):
        """Fault: an upload claims success but the bytes cannot be read back identically."""
        payload = f"smoke file {unique}\n".encode() * 50
        stored = api.post("/api/files", params={"filename": f"e2e-{unique}.txt"}, content=payload,
                          headers={"Content-Type": "text/plain"})
        assert stored.status_code == 201, stored.text
        key = stored.json()["key"]
        assert stored.json()["size"] == len(payload)
        fetched = api.get(f"/api/files/{key}")
        assert fetched.status_code == 200 and fetched.content == payload
        assert fetched.headers["content-type"].startswith("text/plain")

    def test_image_thumbnail_stored(self, api, optimal):
        """Fault: image processing does not produce a readable thumbnail in S3."""
        made = api.post("/api/images", content=png_bytes((800, 400)), headers={"Content-Type": "image/png"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["original_size"] == [800, 400] and body["thumbnail_size"] == [256, 128]
        fetched = api.get(f"/api/files/{body['key']}")
        assert fetched.status_code == 200 and fetched.content[:8] == b"\x89PNG\r\n\x1a\n"

    def test_ai_pipeline_returns_items(self, api, unique, optimal):
        """Fault: the invoice pipeline does not reach the LLM or returns no parsed items."""
        text = f"2 x SMOKE-AI-{unique} hex bolts @ 0.30\n5 x SMOKE-AI2-{unique} washers\nTotal: 2.10"
        response = api.post("/api/ai/pipeline", json={"text": text})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [(i["sku"], i["quantity"]) for i in items] == [(f"SMOKE-AI-{unique}", 2), (f"SMOKE-AI2-{unique}", 5)]
        assert response.json()["matched"] == 0
