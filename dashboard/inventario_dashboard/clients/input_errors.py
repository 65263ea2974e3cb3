"""Which exceptions of a dependency call were caused by the request's own data.

A circuit breaker must count only infrastructure failures (no connection, a timeout, the server
unavailable). An error that the request's data caused — a NUL byte PostgreSQL cannot store, data
too deeply nested to serialise, a key S3 refuses, a prompt the model server rejects — says nothing
about the dependency's health: counting it would let one crafted request every few seconds keep
the API degraded. The guard answers such errors with a 4xx and the breaker judges nothing.
"""
from __future__ import annotations

import psycopg
import redis.exceptions
from botocore.exceptions import ClientError, ParamValidationError

# Raised while *encoding* the request's data in this process (json.dumps, a driver's dumper).
ENCODING_ERRORS = (RecursionError, UnicodeError, OverflowError)
# S3 statuses that are about the credentials, throttling or the server, not the data.
_S3_NOT_INPUT = {401, 403, 408, 429}


def database(exc: BaseException) -> bool:
    """SQLSTATE class 22 (data exception, incl. psycopg's client-side NUL check) and 54 (a value
    beyond a program limit, e.g. an index row too large)."""
    return isinstance(exc, (psycopg.DataError, psycopg.errors.ProgramLimitExceeded, *ENCODING_ERRORS))


def redis_store(exc: BaseException) -> bool:
    return isinstance(exc, (redis.exceptions.DataError, TypeError, ValueError, *ENCODING_ERRORS))


def s3(exc: BaseException) -> bool:
    if isinstance(exc, (ParamValidationError, *ENCODING_ERRORS)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code")
        # a lost bucket is the stand-in's state, not the request's data
        return 400 <= status < 500 and status not in _S3_NOT_INPUT and code != "NoSuchBucket"
    return False


def llm(exc: BaseException) -> bool:
    """The model server refused the prompt (400 / 413 / 422): the request's text, not an outage."""
    if isinstance(exc, ENCODING_ERRORS):
        return True
    status = getattr(exc, "status_code", None)   # openai.APIStatusError without importing openai
    return status in (400, 413, 422)
