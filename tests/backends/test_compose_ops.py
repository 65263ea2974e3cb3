"""The compose side of `logs`: `docker compose logs --timestamps` lines parsed into service, time
and text (the engine-backed paths run in the compose backend's own engine tests)."""

from __future__ import annotations

import datetime as dt

from stagectl.backends.compose_ops import _parse
from stagectl.logstream import interleave


def test_a_compose_log_line_gives_its_service_time_and_text():
    line = _parse("redis-1  | 2026-12-04T23:17:01.123456789Z 1:M * Ready to accept connections", ["redis", "postgres"])
    assert line is not None
    assert (line.service, line.text) == ("redis", "1:M * Ready to accept connections")
    assert line.at == dt.datetime(2026, 12, 4, 23, 17, 1, 123456, tzinfo=dt.timezone.utc).timestamp()


def test_a_service_whose_name_has_a_dash_and_lines_that_are_not_log_lines():
    line = _parse("postgres-exporter-1  | 2026-12-04T23:17:02Z level=info msg=ok", ["postgres", "postgres-exporter"])
    assert line is not None and line.service == "postgres-exporter"
    assert _parse("Attaching to redis-1", ["redis"]) is None


def test_lines_of_two_services_interleave_by_time():
    a = [_parse("a-1  | 2026-12-04T23:00:01Z one", ["a", "b"]), _parse("a-1  | 2026-12-04T23:00:03Z three", ["a", "b"])]
    b = [_parse("b-1  | 2026-12-04T23:00:02Z two", ["a", "b"])]
    assert [ln.text for ln in interleave([a, b])] == ["one", "two", "three"]  # type: ignore[union-attr]
