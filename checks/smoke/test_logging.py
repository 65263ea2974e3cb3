"""Structured logging (docs/contract.md §6): the dashboard's log file is JSON lines with the contract's
fields, requests can be traced by their id, and no secret value appears."""

from __future__ import annotations

import json

import pytest

from stagectl.secrets import secret_values

from ._support import LOG_FIELDS, wait_for

pytestmark = pytest.mark.local_access("the dashboard's log file")


@pytest.fixture(scope="module")
def log_path(cfg):
    if cfg.dashboard_log is None:
        pytest.skip("no dashboard log file given (STAGECTL_DASHBOARD_LOG unset: e.g. --target without a local stack)")
    assert cfg.dashboard_log.is_file(), f"dashboard log {cfg.dashboard_log} does not exist"
    return cfg.dashboard_log


def _lines(path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


class TestStructuredLogging:
    def test_every_line_is_json_with_fields(self, log_path, api):
        """Fault: LOG_FORMAT not honoured, a plain-text line (e.g. a stray print or uvicorn's own
        format), or a contract field missing."""
        api.get("/health/live")
        lines = _lines(log_path)
        assert lines, "the log is empty"
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                pytest.fail(f"line {number} is not JSON: {line[:200]}", pytrace=False)
            missing = [f for f in LOG_FIELDS if f not in entry]
            assert not missing, f"line {number} lacks {missing}"

    def test_request_traceable_by_id(self, cfg, log_path, api, unique):
        """Fault: the request id is not logged with the route template and the status."""
        rid = f"smoke-log-{unique}"
        assert api.get(f"/api/inventory/NOPE-{unique}", headers={cfg.require("REQUEST_ID_HEADER"): rid}).status_code == 404

        def entry():
            found = [json.loads(line) for line in _lines(log_path) if rid in line]
            return found[-1] if found else None

        logged = wait_for(entry, 5, f"a log line with request id {rid}")
        assert logged["request_id"] == rid
        assert (logged["method"], logged["route"], logged["status"]) == ("GET", "/api/inventory/{sku}", 404)
        assert isinstance(logged["duration_ms"], (int, float)) and logged["client_ip"]

    def test_no_secret_in_log(self, cfg, log_path, anon):
        """Fault: a password or key from the environment written to the log."""
        # Provoke the paths most likely to echo a key: a wrong one, and a bearer token.
        anon.get("/api/inventory", headers={"X-API-Key": cfg.api_key + "x"})
        anon.get("/metrics", headers={"Authorization": f"Bearer {cfg.api_key}"})
        text = log_path.read_text(encoding="utf-8", errors="replace")
        secrets = secret_values(cfg.env)
        assert secrets, "no secret variables in the environment: nothing to check against"
        leaked = [name for name, value in cfg.env.items() if value in secrets and value in text]
        assert not leaked, f"values of {sorted(set(leaked))} appear in the dashboard log"

    def test_log_level_honoured(self, cfg, log_path):
        """Fault: records below LOG_LEVEL are written."""
        import logging

        threshold = logging.getLevelName(cfg.require("LOG_LEVEL").upper())
        levels = {json.loads(line)["level"] for line in _lines(log_path)}
        below = {lvl for lvl in levels if logging.getLevelName(lvl) < threshold}
        assert not below, f"levels below {cfg.require('LOG_LEVEL')}: {below}"
