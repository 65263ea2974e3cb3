"""PostgreSQL: the system of record (psycopg 3 async pool, schema created idempotently)."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from .guard import Guard

T = TypeVar("T")
log = logging.getLogger("inventario_dashboard.postgres")

# One advisory lock id so several workers starting at once do not race on CREATE TABLE.
_SCHEMA_LOCK_ID = 7_318_201
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS products (
    id          BIGSERIAL PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name        TEXT NOT NULL,
    category    TEXT NOT NULL DEFAULT 'general',
    price       NUMERIC(12, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
    quantity    INTEGER NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS stock_movements (
    id          BIGSERIAL PRIMARY KEY,
    sku         TEXT NOT NULL,
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS stock_movements_sku_time ON stock_movements (sku, created_at);
"""


class DomainError(Exception):
    """A query failed because of the request (duplicate SKU, constraint), not the database."""

    def __init__(self, code: str, detail: str):
        super().__init__(code)
        self.code, self.detail = code, detail


class _Domain:
    """Carries a DomainError out of the breaker without counting it as a database failure."""

    def __init__(self, error: DomainError):
        self.error = error


def conninfo(settings) -> str:
    """libpq connection string (the password stays inside; never log this)."""
    return psycopg.conninfo.make_conninfo(
        host=settings.postgres_host, port=settings.postgres_port, dbname=settings.postgres_db,
        user=settings.postgres_user, password=settings.postgres_password.get_secret_value(),
        connect_timeout=max(1, int(settings.db_connect_timeout)),
        options=f"-c statement_timeout={int(settings.db_statement_timeout_ms)}",
        application_name="inventario-dashboard")


class Database:
    """Pool + guarded queries. Domain errors (unique/check violations) do not trip the breaker."""

    def __init__(self, settings, guard: Guard):
        self.guard = guard
        self._schema_ready = False
        self._connected_to: str | None = None
        dialled = psycopg.conninfo.conninfo_to_dict(conninfo(settings))
        self._dials = f"{dialled.get('host')}:{dialled.get('port')}"  # host:port only, no password
        self.pool = AsyncConnectionPool(
            conninfo(settings), min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size, timeout=float(settings.db_connect_timeout),
            kwargs={"row_factory": dict_row, "autocommit": False},
            # A connection broken by a database restart is discarded instead of handed out.
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=3600, open=False, name="dashboard")

    async def open(self) -> None:
        # wait=False: the app must start (and report the database down) even when it is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=2)

    async def _ensure_schema(self, conn: psycopg.AsyncConnection) -> None:
        if self._schema_ready:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
            await conn.execute(SCHEMA_SQL)
        self._schema_ready = True
        log.info("database schema ready")

    async def ensure_schema(self) -> None:
        """Create the tables (idempotent); raises ServiceCallFailed when the database is down."""
        async def run() -> None:
            async with self.pool.connection() as conn:
                await self._ensure_schema(conn)
        await self.guard.call(run)

    def _wrap(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]):
        async def run():
            async with self.pool.connection() as conn:
                await self._ensure_schema(conn)
                try:
                    async with conn.transaction():
                        return await work(conn)
                except psycopg.errors.UniqueViolation as exc:
                    return _Domain(DomainError("conflict", _diag(exc)))
                except (psycopg.errors.CheckViolation, psycopg.errors.NumericValueOutOfRange,
                        psycopg.errors.InvalidTextRepresentation) as exc:
                    return _Domain(DomainError("constraint_violation", _diag(exc)))
        return run

    async def transact(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work(conn)`` in one transaction through the breaker (a write: no retry)."""
        return _unwrap(await self.guard.call(self._wrap(work)))

    async def read(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """Like transact, for reads: retried with tenacity."""
        return _unwrap(await self.guard.read(self._wrap(work)))

    async def fetch_all(self, sql: str, params: Any = None) -> list[dict]:
        async def work(conn):
            cur = await conn.execute(sql, params)
            return await cur.fetchall()
        return await self.read(work)

    async def fetch_one(self, sql: str, params: Any = None) -> dict | None:
        async def work(conn):
            cur = await conn.execute(sql, params)
            return await cur.fetchone()
        return await self.read(work)

    async def probe(self) -> None:
        """Health probe: ``select 1`` on a pooled connection (the manager runs it via the breaker)."""
        async with self.pool.connection() as conn:
            await conn.execute("select 1")
            self._connected_to = f"{conn.info.host}:{conn.info.port}"

    @property
    def endpoint_in_use(self) -> str:
        """host:port of the server the last probe's connection reached (libpq's own answer), or
        what the pool will dial before the first probe. Never the password."""
        return self._connected_to or self._dials


def _diag(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    return (getattr(diag, "message_primary", None) or type(exc).__name__)[:200]


def _unwrap(result):
    if isinstance(result, _Domain):
        raise result.error
    return result
