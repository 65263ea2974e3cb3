"""Feature gating (docs/contract.md §5): level matrix × needed services × feature flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inventario_dashboard.resilience.levels import Level


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: worst level it still works at, the services it needs, its feature flag."""

    name: str
    max_level: Level
    needs: tuple[str, ...] = ()
    needs_any: bool = False  # True: one of `needs` suffices (read_only_access: database OR redis)
    flag: str | None = None  # Settings field name, e.g. "feature_ai_enabled"


def _spec(name: str, max_level: Level, *needs: str, any_: bool = False, flag: str | None = None) -> FeatureSpec:
    return FeatureSpec(name, max_level, tuple(needs), any_, flag)


_L = Level
FEATURES: dict[str, FeatureSpec] = {
    spec.name: spec
    for spec in (
        _spec("inventory_management", _L.MINIMAL, "database"),
        _spec("ai_recommendations", _L.DEGRADED, "openai", "database", flag="feature_ai_enabled"),
        _spec("real_time_updates", _L.DEGRADED, "redis", flag="feature_realtime_enabled"),
        _spec("redis_cache", _L.DEGRADED, "redis", flag="feature_cache_enabled"),
        _spec("session_storage", _L.LIMITED, "redis"),
        _spec("rate_limiting", _L.DEGRADED, "redis"),
        _spec("s3_uploads", _L.OPTIMAL, "s3", flag="feature_s3_enabled"),
        _spec("file_storage", _L.DEGRADED, "s3", flag="feature_s3_enabled"),
        _spec("image_processing", _L.OPTIMAL, "s3", flag="feature_s3_enabled"),
        _spec("backup_operations", _L.OPTIMAL, "s3", "database", flag="feature_s3_enabled"),
        _spec("full_ai_pipeline", _L.DEGRADED, "openai", "database", flag="feature_ai_enabled"),
        _spec("advanced_analytics", _L.DEGRADED, "database", flag="feature_analytics_enabled"),
        _spec("real_time_inventory", _L.DEGRADED, "redis", "database", flag="feature_realtime_enabled"),
        _spec("basic_analytics", _L.LIMITED, "database", flag="feature_analytics_enabled"),
        _spec("read_only_access", _L.EMERGENCY, "database", "redis", any_=True),
        _spec("minimal_access", _L.EMERGENCY),
    )
}


def feature_available(
    name: str, level: Level, services_up: Mapping[str, bool], flags: Mapping[str, bool]
) -> bool:
    """True when `level` allows the feature, its services are up and its flag is on.

    `services_up` counts "up" and "degraded" as up. Unknown feature names, and a needed service
    or gating flag missing from the mappings, raise KeyError (a caller bug, not "unavailable").
    """
    spec = FEATURES[name]
    if spec.flag is not None and not flags[spec.flag]:
        return False
    if Level(level) > spec.max_level:
        return False
    if not spec.needs:
        return True
    ups = [services_up[service] for service in spec.needs]
    return any(ups) if spec.needs_any else all(ups)


def all_features(level: Level, services_up: Mapping[str, bool], flags: Mapping[str, bool]) -> dict[str, bool]:
    """Availability of all 16 features, in docs/contract.md §5 order."""
    return {name: feature_available(name, level, services_up, flags) for name in FEATURES}
