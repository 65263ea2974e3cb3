"""Background refresh of the Redis inventory snapshot (the read-only fallback's data)."""
from __future__ import annotations

import asyncio
import logging

from . import inventory_repo as repo
from .clients.guard import ServiceCallFailed
from .services import Services

log = logging.getLogger("inventario_dashboard.snapshot")
REFRESH_EVERY_S = 30.0


async def snapshot_loop(services: Services) -> None:
    """Every REFRESH_EVERY_S (or HEALTH_CHECK_INTERVAL if longer), while the database and Redis
    are both up, copy all products into the snapshot. Writes also update it one product at a time."""
    period = max(REFRESH_EVERY_S, float(services.settings.health_check_interval))
    while True:
        manager = services.manager
        if manager.service_up("database") and manager.service_up("redis"):
            try:
                count = await repo.refresh_snapshot(services)
                log.debug("inventory snapshot refreshed (%d products)", count)
            except ServiceCallFailed as exc:
                log.info("inventory snapshot not refreshed: %s", exc.service)
            await asyncio.sleep(period)
        else:
            await asyncio.sleep(min(period, float(services.settings.health_check_interval)))
