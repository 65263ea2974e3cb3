"""The run-time health interval (admin endpoint, key required): a change takes effect at once and
is answered with the previous value; without a key it is refused."""
from __future__ import annotations

import asyncio

import pytest

from inventario_dashboard.resilience.manager import DegradationManager


class _Settings:
    health_check_interval = 30.0


async def _count_evaluations(manager: DegradationManager, seconds: float) -> int:
    calls = 0

    async def evaluate_once():
        nonlocal calls
        calls += 1
    manager.evaluate_once = evaluate_once  # type: ignore[method-assign]
    task = asyncio.create_task(manager.run())
    await asyncio.sleep(0.05)
    manager.set_interval(0.05)
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return calls


def test_set_interval_ends_the_current_pause_and_returns_the_previous():
    manager = DegradationManager.__new__(DegradationManager)  # only run()/set_interval are used
    manager.settings = _Settings()
    calls = asyncio.run(_count_evaluations(manager, 0.5))
    # with the configured 30 s pause only the first evaluation would have run
    assert calls >= 4, calls
    assert manager.set_interval(30.0) == 0.05 and manager.settings.health_check_interval == 30.0
