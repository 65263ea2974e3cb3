"""Pure logic of the hardening: the fallback limiter's bound, which address is the client, and
the staging refusal of a switched-off rate limit."""
from __future__ import annotations

import pytest

from inventario_dashboard.settings import SettingsError, load_settings
from inventario_dashboard.web.security import LocalLimiter, client_identity


def test_local_limiter_memory_is_bounded_within_one_window():
    limiter = LocalLimiter(max_keys=100)
    for i in range(5000):
        limiter.hit(f"client-{i}", window_index=7)
    assert len(limiter) <= 100
    # an identity that keeps hitting keeps its count (it is the most recent, never the evicted one)
    counts = [limiter.hit("steady", 7) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert limiter.hit("steady", 8) == 1   # a new window starts at 1


def test_forwarded_for_counts_only_from_a_trusted_proxy():
    xff = [(b"x-forwarded-for", b"10.9.1.1, 192.0.2.7")]
    # no trusted proxy: the TCP peer, whatever the header says
    assert client_identity("203.0.113.5", xff, frozenset()) == "203.0.113.5"
    # the server already rewrote the peer from the header (uvicorn --proxy-headers): not trusted
    assert client_identity("192.0.2.7", xff, frozenset()) == "forwarded"
    # a listed proxy: the right-most address it did not add itself
    assert client_identity("127.0.0.1", xff, frozenset({"127.0.0.1"})) == "192.0.2.7"
    assert client_identity("127.0.0.1", xff, frozenset({"127.0.0.1", "192.0.2.7"})) == "10.9.1.1"
    assert client_identity("127.0.0.1", [], frozenset({"127.0.0.1"})) == "127.0.0.1"


def test_staging_refuses_a_switched_off_rate_limit():
    with pytest.raises(SettingsError, match="DASHBOARD_RATELIMIT_ENABLED"):
        load_settings(environment="staging", dashboard_api_key="k" * 24, dashboard_ratelimit_enabled=False)
    assert not load_settings(environment="development", dashboard_ratelimit_enabled=False).dashboard_ratelimit_enabled


def test_trusted_proxies_setting_parses_a_list():
    s = load_settings(dashboard_trusted_proxies="127.0.0.1, 10.0.0.2")
    assert s.dashboard_trusted_proxies == ["127.0.0.1", "10.0.0.2"]
    assert load_settings().dashboard_trusted_proxies == []
    with pytest.raises(SettingsError, match="DASHBOARD_TRUSTED_PROXIES"):
        load_settings(dashboard_trusted_proxies="not-an-ip")


def test_s3_input_errors_are_4xx_about_the_data_only():
    from botocore.exceptions import ClientError, ParamValidationError

    from inventario_dashboard.clients import input_errors

    def client_error(status: int, code: str) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")
    assert input_errors.s3(client_error(400, "InvalidArgument"))
    assert input_errors.s3(ParamValidationError(report="Key is empty"))
    for status, code in ((503, "SlowDown"), (500, "InternalError"), (403, "AccessDenied"),
                         (404, "NoSuchBucket"), (429, "TooManyRequests")):
        assert not input_errors.s3(client_error(status, code)), code
    assert not input_errors.s3(ConnectionError("refused"))


def test_database_and_redis_input_errors():
    import psycopg
    import redis.exceptions

    from inventario_dashboard.clients import input_errors
    assert input_errors.database(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))
    assert not input_errors.database(psycopg.OperationalError("connection refused"))
    assert not input_errors.database(TimeoutError())
    assert input_errors.redis_store(RecursionError()) and input_errors.redis_store(redis.exceptions.DataError())
    assert not input_errors.redis_store(redis.exceptions.ConnectionError())
    assert not input_errors.redis_store(redis.exceptions.TimeoutError())
