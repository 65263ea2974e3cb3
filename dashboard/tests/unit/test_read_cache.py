"""The read cache builds a missing entry once, however many requests miss it at the same time.

Faults caught: concurrent misses each running the query, a failed build answered to some waiters
as a success (or hanging them), a waiter that gives up cancelling the build for the others, a
finished build left in the table (a later miss must build afresh)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from inventario_dashboard.read_cache import cached


class FakeRedis:
    def __init__(self):
        self.entries: dict[str, str] = {}

    async def cache_lookup(self, kind, suffix):
        key = f"v0:{kind}:{suffix}"
        return key, self.entries.get(key)

    async def cache_set(self, key, raw, ttl_s=None):
        self.entries[key] = raw

    async def invalidate_cache(self):
        self.entries.clear()


def _services():
    manager = SimpleNamespace(feature_available=lambda name: True)
    return SimpleNamespace(settings=SimpleNamespace(), manager=manager, redis=FakeRedis(), cache_dirty=False,
                           cache_builds={}, fallback=lambda service: None)


def test_concurrent_misses_share_one_build_and_later_reads_hit():
    services, builds = _services(), []

    async def build():
        builds.append(1)
        await asyncio.sleep(0.05)
        return {"n": len(builds)}

    async def main():
        answers = await asyncio.gather(*(cached(services, "summary", "10", build) for _ in range(10)))
        later = await cached(services, "summary", "10", build)
        return answers, later
    answers, later = asyncio.run(main())
    assert len(builds) == 1 and answers == [({"n": 1}, "MISS")] * 10
    assert later == ('{"n": 1}', "HIT") and services.cache_builds == {}


def test_a_failed_build_fails_every_waiter_and_the_next_miss_builds_again():
    services, builds = _services(), []

    async def build():
        builds.append(1)
        await asyncio.sleep(0.05)
        if len(builds) == 1:
            raise LookupError("no such product")
        return {"ok": True}

    async def main():
        first = await asyncio.gather(*(cached(services, "item", "x", build) for _ in range(5)),
                                     return_exceptions=True)
        second = await cached(services, "item", "x", build)
        return first, second
    first, second = asyncio.run(main())
    assert [type(r) for r in first] == [LookupError] * 5 and len(builds) == 2
    assert second == ({"ok": True}, "MISS")


def test_a_waiter_that_gives_up_does_not_cancel_the_build_for_the_others():
    services = _services()

    async def build():
        await asyncio.sleep(0.1)
        return {"done": True}

    async def main():
        impatient = asyncio.ensure_future(cached(services, "summary", "1", build))
        patient = asyncio.ensure_future(cached(services, "summary", "1", build))
        await asyncio.sleep(0.02)
        impatient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await impatient
        return await patient
    assert asyncio.run(main()) == ({"done": True}, "MISS")
