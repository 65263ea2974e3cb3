"""The keyed /health report is encoded ahead of time and reused: every answer must be byte for
byte the report built fresh at that moment (only the timestamp differs per answer).

Faults caught: a reused report that misses a breaker's failure count moving (a success resets it
silently), an evaluation, a level change, a breaker turning HALF_OPEN with time, a client dialling
elsewhere; a timestamp frozen in the reused bytes."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest

from inventario_dashboard.app import build_services
from inventario_dashboard.routes import health
from inventario_dashboard.routes.health import EncodedReport, _json, full_report, short_answer


def _fresh_with_timestamp_of(services, body: bytes) -> bytes:
    timestamp = json.loads(body)["timestamp"]
    return _json({**short_answer(services), **full_report(services, now=timestamp)})


@pytest.fixture
def stack(make_settings, clock):
    services = build_services(make_settings(dashboard_api_key="k" * 32))
    async def fine():
        return None
    services.manager._probes = {name: fine for name in services.manager._probes}
    services.manager._clock = clock
    for breaker in services.breakers.values():
        breaker._clock = clock
    asyncio.run(services.manager.evaluate_once())
    return services, EncodedReport(services)


def test_every_answer_is_the_report_built_at_that_moment(stack, clock, monkeypatch):
    services, report = stack
    assert services.manager.level.name == "OPTIMAL"
    built = []
    monkeypatch.setattr(health, "full_report", lambda *a, **k: built.append(1) or full_report(*a, **k))

    def check() -> dict:
        body = report.body()
        assert body == _fresh_with_timestamp_of(services, body)
        answer = json.loads(body)
        age = datetime.now(timezone.utc) - datetime.fromisoformat(answer["timestamp"])
        assert 0 <= age.total_seconds() < 5, "the timestamp is the answer's own"
        return answer

    check()
    assert len(built) == 1
    check()
    check()
    assert len(built) == 1, "nothing changed: the encoded report is reused"

    db = services.breakers["database"]

    async def fail():
        raise ConnectionError("down")

    async def succeed():
        return None
    with pytest.raises(ConnectionError):
        asyncio.run(db.call(fail))   # a failure the manager does not hear of
    assert check()["services"]["database"]["circuit_breaker"]["failure_count"] == 1
    asyncio.run(db.call(succeed))    # a success resets the count without telling anyone
    assert check()["services"]["database"]["circuit_breaker"]["failure_count"] == 0

    asyncio.run(services.manager.evaluate_once())
    assert check()["services"]["database"]["last_check"] is not None

    services.db._connected_to = "127.0.0.1:1"
    assert check()["services"]["database"]["endpoint"] == "127.0.0.1:1"

    services.manager.report_failure("s3")
    degraded = check()
    assert degraded["degradation_level"] == "DEGRADED" and degraded["recovery_prediction"] is not None

    s3 = services.breakers["s3"]
    for _ in range(s3.failure_threshold):
        with pytest.raises(ConnectionError):
            asyncio.run(s3.call(fail))
    assert check()["services"]["s3"]["circuit_breaker"]["state"] == "open"
    clock.advance(s3.recovery_timeout + 1)
    assert check()["services"]["s3"]["circuit_breaker"]["state"] == "half_open"
