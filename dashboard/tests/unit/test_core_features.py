"""Feature gating (docs/contract.md §5): level matrix, needed services, feature flags."""

from __future__ import annotations

import pytest

from inventario_dashboard.resilience.features import FEATURES, all_features, feature_available
from inventario_dashboard.resilience.levels import SERVICES, Level

LEVELS = list(Level)  # OPTIMAL, DEGRADED, LIMITED, MINIMAL, EMERGENCY

# docs/contract.md §5 as a matrix (O D L M E): Y = available with all services up and flags on.
MATRIX = {
    "inventory_management": "YYYYN",
    "ai_recommendations": "YYNNN",
    "real_time_updates": "YYNNN",
    "redis_cache": "YYNNN",
    "session_storage": "YYYNN",
    "rate_limiting": "YYNNN",
    "s3_uploads": "YNNNN",
    "file_storage": "YYNNN",
    "image_processing": "YNNNN",
    "backup_operations": "YNNNN",
    "full_ai_pipeline": "YYNNN",
    "advanced_analytics": "YYNNN",
    "real_time_inventory": "YYNNN",
    "basic_analytics": "YYYNN",
    "read_only_access": "YYYYY",
    "minimal_access": "YYYYY",
}
NEEDS = {
    "inventory_management": {"database"}, "ai_recommendations": {"openai", "database"},
    "real_time_updates": {"redis"}, "redis_cache": {"redis"}, "session_storage": {"redis"},
    "rate_limiting": {"redis"}, "s3_uploads": {"s3"}, "file_storage": {"s3"},
    "image_processing": {"s3"}, "backup_operations": {"s3", "database"},
    "full_ai_pipeline": {"openai", "database"}, "advanced_analytics": {"database"},
    "real_time_inventory": {"redis", "database"}, "basic_analytics": {"database"},
    "read_only_access": {"database", "redis"},  # either one suffices
    "minimal_access": set(),
}
FLAG_GATES = {
    "feature_ai_enabled": {"ai_recommendations", "full_ai_pipeline"},
    "feature_cache_enabled": {"redis_cache"},
    "feature_realtime_enabled": {"real_time_updates", "real_time_inventory"},
    "feature_s3_enabled": {"s3_uploads", "file_storage", "image_processing", "backup_operations"},
    "feature_analytics_enabled": {"advanced_analytics", "basic_analytics"},
}
ALL_UP = {name: True for name in SERVICES}
ALL_FLAGS = {flag: True for flag in FLAG_GATES}
COMBINATIONS = [(f, i, lvl) for f in MATRIX for i, lvl in enumerate(LEVELS)]


def test_exactly_the_sixteen_contract_features():
    assert list(FEATURES) == list(MATRIX)
    assert len(COMBINATIONS) == 80


@pytest.mark.parametrize("feature,index,level", COMBINATIONS)
def test_matrix_with_services_up(feature, index, level):
    assert feature_available(feature, level, ALL_UP, ALL_FLAGS) is (MATRIX[feature][index] == "Y")


@pytest.mark.parametrize("feature,index,level", COMBINATIONS)
def test_matrix_with_needed_services_down(feature, index, level):
    services = {name: name not in NEEDS[feature] for name in SERVICES}
    expected = MATRIX[feature][index] == "Y" and not NEEDS[feature]  # only minimal_access survives
    assert feature_available(feature, level, services, ALL_FLAGS) is expected


@pytest.mark.parametrize("feature", [f for f in MATRIX if len(NEEDS[f]) > 0])
@pytest.mark.parametrize("down", SERVICES)
def test_each_needed_service_alone(feature, down):
    services = {name: name != down for name in SERVICES}
    if feature == "read_only_access" or down not in NEEDS[feature]:
        expected = True  # database OR redis suffices; an unneeded service does not matter
    else:
        expected = False
    assert feature_available(feature, Level.OPTIMAL, services, ALL_FLAGS) is expected


def test_read_only_access_from_either_store_at_emergency():
    for database, redis in [(True, False), (False, True)]:
        services = {"database": database, "redis": redis, "openai": False, "s3": False}
        assert feature_available("read_only_access", Level.EMERGENCY, services, ALL_FLAGS) is True


@pytest.mark.parametrize("flag", FLAG_GATES)
def test_a_disabled_flag_turns_off_exactly_its_features(flag):
    flags = {**ALL_FLAGS, flag: False}
    got = all_features(Level.OPTIMAL, ALL_UP, flags)
    assert {name for name, ok in got.items() if not ok} == FLAG_GATES[flag]


def test_settings_feature_flags_drive_gating(make_settings):
    s = make_settings(feature_ai_enabled=False, feature_s3_enabled=False)
    got = all_features(Level.OPTIMAL, ALL_UP, s.feature_flags)
    assert {n for n, ok in got.items() if not ok} == FLAG_GATES["feature_ai_enabled"] | FLAG_GATES["feature_s3_enabled"]


def test_unknown_feature_or_missing_flag_is_a_caller_bug():
    with pytest.raises(KeyError):
        feature_available("teleportation", Level.OPTIMAL, ALL_UP, ALL_FLAGS)
    with pytest.raises(KeyError):
        feature_available("redis_cache", Level.OPTIMAL, ALL_UP, {})
