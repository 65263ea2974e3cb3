"""Redis: cache with TTL, sessions, shared rate-limit counters, pub/sub events and the inventory
snapshot that serves reads while the database is down."""
from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from .guard import Guard

EVENTS_CHANNEL = "inventario:events"
RECENT_EVENTS_KEY = "inventario:events:recent"
SNAPSHOT_KEY = "inventario:snapshot"            # hash sku -> product JSON
SNAPSHOT_META_KEY = "inventario:snapshot:meta"  # when the snapshot was last refreshed
CACHE_VERSION_KEY = "inventario:cache:version"  # bumped on every write: old list keys go stale
RECENT_EVENTS_KEPT = 100


class RedisStore:
    """Guarded Redis operations used by the endpoints and the rate limiter."""

    def __init__(self, settings, guard: Guard):
        self.guard = guard
        self.cache_ttl = int(settings.redis_cache_ttl)
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.client = aioredis.Redis(
            host=settings.redis_host, port=settings.redis_port, db=settings.redis_db,
            password=password or None, max_connections=settings.redis_max_connections,
            socket_timeout=float(settings.redis_socket_timeout),
            socket_connect_timeout=float(settings.redis_socket_timeout),
            decode_responses=True)
        # EVALSHA of scripts loaded once (redis-py reloads them after a NOSCRIPT, e.g. a restart)
        self._lookup = self.client.register_script(self._LOOKUP)
        self._rate = self.client.register_script(self._RATE)

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def endpoint_in_use(self) -> str:
        """host:port the client's connection pool dials (never the password)."""
        kwargs = self.client.connection_pool.connection_kwargs
        return f"{kwargs.get('host')}:{kwargs.get('port')}"

    async def probe(self) -> None:
        """Health probe: PING."""
        await self.client.ping()

    # --- cache ---------------------------------------------------------------------------------
    # Keys carry the cache version; a write bumps it, so every older entry goes stale at once and a
    # reader that raced a write stores its answer under the old version, where nobody looks.
    # One round trip: read the version and the entry under it in a single script.
    _LOOKUP = ("local v = redis.call('GET', KEYS[1]) or '0' "
               "local key = ARGV[1] .. v .. ARGV[2] "
               "return {key, redis.call('GET', key)}")

    async def cache_lookup(self, kind: str, suffix: str) -> tuple[str, str | None]:
        """(versioned key, cached JSON text or None)."""
        async def run():
            return await self._lookup(keys=[CACHE_VERSION_KEY], args=["inventario:cache:", f":{kind}:{suffix}"])
        key, raw = await self.guard.read(run)
        return key, (raw or None)

    async def cache_set(self, key: str, raw_json: str, ttl_s: int | None = None) -> None:
        """Store an entry for ``ttl_s`` seconds (default REDIS_CACHE_TTL)."""
        ex = min(ttl_s, self.cache_ttl) if ttl_s else self.cache_ttl
        await self.guard.call(lambda: self.client.set(key, raw_json, ex=ex))

    async def invalidate_cache(self) -> None:
        await self.guard.call(lambda: self.client.incr(CACHE_VERSION_KEY))

    # --- snapshot for read-only mode -----------------------------------------------------------
    async def snapshot_put(self, product: dict) -> None:
        await self.guard.call(lambda: self.client.hset(SNAPSHOT_KEY, product["sku"], json.dumps(product)))

    async def snapshot_delete(self, sku: str) -> None:
        await self.guard.call(lambda: self.client.hdel(SNAPSHOT_KEY, sku))

    async def snapshot_replace(self, products: list[dict]) -> None:
        """Replace the whole snapshot atomically (MULTI/EXEC)."""
        async def run():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(SNAPSHOT_KEY)
                if products:
                    pipe.hset(SNAPSHOT_KEY, mapping={p["sku"]: json.dumps(p) for p in products})
                pipe.set(SNAPSHOT_META_KEY, json.dumps({"refreshed_at": time.time(),
                                                        "count": len(products)}))
                await pipe.execute()
        await self.guard.call(run)

    async def snapshot_all(self) -> tuple[list[dict], float | None]:
        async def run():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(SNAPSHOT_KEY)
                pipe.get(SNAPSHOT_META_KEY)
                return await pipe.execute()
        items, meta = await self.guard.read(run)
        products = sorted((json.loads(v) for v in items.values()), key=lambda p: p["sku"])
        return products, (json.loads(meta)["refreshed_at"] if meta else None)

    async def snapshot_get(self, sku: str) -> dict | None:
        raw = await self.guard.read(lambda: self.client.hget(SNAPSHOT_KEY, sku))
        return None if raw is None else json.loads(raw)

    # --- sessions ------------------------------------------------------------------------------
    async def session_put(self, session_id: str, stored_json: str, ttl_s: int) -> None:
        """Store a session already serialised by the caller (encoding is the request's business)."""
        await self.guard.call(lambda: self.client.set(f"inventario:session:{session_id}",
                                                      stored_json, ex=ttl_s))

    async def session_get(self, session_id: str) -> tuple[dict | None, int]:
        async def run():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.get(f"inventario:session:{session_id}")
                pipe.ttl(f"inventario:session:{session_id}")
                return await pipe.execute()
        raw, ttl = await self.guard.read(run)
        return (None if raw is None else json.loads(raw)), int(ttl)

    async def session_delete(self, session_id: str) -> bool:
        return bool(await self.guard.call(lambda: self.client.delete(f"inventario:session:{session_id}")))

    # --- rate limiting -------------------------------------------------------------------------
    # INCR and a first EXPIRE in one script: one command per request instead of a MULTI/EXEC
    # pipeline of four (the pipeline's bookkeeping in redis-py cost more CPU than the round trip).
    _RATE = ("local n = redis.call('INCR', KEYS[1]) "
             "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
             "return n")

    async def rate_hit(self, bucket: str, window_s: int) -> int:
        """Count one request in a fixed window shared by all workers; returns the count so far."""
        async def run():
            return int(await self._rate(keys=[bucket], args=[window_s + 1]))
        return await self.guard.call(run)

    # --- events --------------------------------------------------------------------------------
    async def publish(self, event: dict) -> None:
        payload = json.dumps(event)

        async def run():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.publish(EVENTS_CHANNEL, payload)
                pipe.lpush(RECENT_EVENTS_KEY, payload)
                pipe.ltrim(RECENT_EVENTS_KEY, 0, RECENT_EVENTS_KEPT - 1)
                await pipe.execute()
        await self.guard.call(run)

    async def recent_events(self, limit: int) -> list[dict]:
        raw = await self.guard.read(lambda: self.client.lrange(RECENT_EVENTS_KEY, 0, limit - 1))
        return [json.loads(r) for r in raw]

    async def subscribe(self):
        """A PubSub subscribed to the events channel (caller closes it)."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)

        async def run():
            await pubsub.subscribe(EVENTS_CHANNEL)
            return pubsub
        try:
            return await self.guard.call(run)
        except Exception:
            await pubsub.aclose()
            raise
