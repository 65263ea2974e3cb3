"""stagectl's own copy of the contract table (docs/contract.md §4–§5) against the contract's rows.

Faults caught: a wrong weight, threshold comparison (> vs >=), the OPTIMAL "every service up" rule,
a feature's level or needed services, the read_only_access "database OR redis" rule, flags ignored,
and an env that silently falls back to defaults."""

from __future__ import annotations

import itertools

import pytest

from stagectl.chaos.scenarios import FEATURES, SERVICES, LevelTable, expect, matrix_scenarios, quick_scenarios
from stagectl.errors import ConfigError

CONTRACT_ENV = {
    "SERVICE_WEIGHTS": "database:50,openai:30,redis:15,s3:5",
    "OPTIMAL_THRESHOLD": "90", "DEGRADED_THRESHOLD": "70", "LIMITED_THRESHOLD": "60", "MINIMAL_THRESHOLD": "40",
}

# docs/contract.md §4, the 16 rows, typed in from the document (not computed).
CONTRACT_ROWS = {
    (): (100, "OPTIMAL"), ("s3",): (95, "DEGRADED"), ("redis",): (85, "DEGRADED"),
    ("openai",): (70, "DEGRADED"), ("database",): (50, "MINIMAL"), ("redis", "s3"): (80, "DEGRADED"),
    ("openai", "s3"): (65, "LIMITED"), ("openai", "redis"): (55, "MINIMAL"),
    ("database", "s3"): (45, "MINIMAL"), ("database", "redis"): (35, "EMERGENCY"),
    ("database", "openai"): (20, "EMERGENCY"), ("openai", "redis", "s3"): (50, "MINIMAL"),
    ("database", "openai", "redis"): (5, "EMERGENCY"), ("database", "openai", "s3"): (15, "EMERGENCY"),
    ("database", "redis", "s3"): (30, "EMERGENCY"), ("database", "openai", "redis", "s3"): (0, "EMERGENCY"),
}


@pytest.fixture
def table() -> LevelTable:
    return LevelTable.from_env(CONTRACT_ENV)


def test_the_contract_lists_all_16_combinations():
    combos = {tuple(sorted(c)) for n in range(5) for c in itertools.combinations(SERVICES, n)}
    assert {tuple(sorted(k)) for k in CONTRACT_ROWS} == combos


@pytest.mark.parametrize("down", sorted(CONTRACT_ROWS, key=len), ids=lambda d: "+".join(d) or "none")
def test_score_and_level_match_the_contract_row(table, down):
    score, level = CONTRACT_ROWS[down]
    exp = expect(set(down), table)
    assert (exp.score, exp.level) == (score, level)


def test_matrix_covers_each_row_once_and_quick_has_the_classic_modes():
    assert sorted(tuple(sorted(s.down)) for s in matrix_scenarios()) == sorted(tuple(sorted(k)) for k in CONTRACT_ROWS)
    quick = {s.name: s for s in quick_scenarios()}
    assert {frozenset(s.down) for s in quick.values()} == {frozenset({x}) for x in ("database", "redis", "s3", "openai")}
    assert quick["openai-breaker-open"].hold_breaker_open == "openai"
    assert any(f == "freeze" for s in quick.values() for _, f in s.faults)


def test_optimal_needs_every_service_up_even_with_a_high_score():
    table = LevelTable.from_env({**CONTRACT_ENV, "SERVICE_WEIGHTS": "database:50,openai:30,redis:20,s3:0"})
    assert expect({"s3"}, table).score == 100
    assert expect({"s3"}, table).level == "DEGRADED"


def test_thresholds_are_inclusive():
    # openai+s3 = 65: LIMITED with the contract's 60; exactly at a raised bound of 65 it is still LIMITED
    table = LevelTable.from_env({**CONTRACT_ENV, "LIMITED_THRESHOLD": "65"})
    assert expect({"openai", "s3"}, table).level == "LIMITED"
    table = LevelTable.from_env({**CONTRACT_ENV, "LIMITED_THRESHOLD": "65.5"})
    assert expect({"openai", "s3"}, table).level == "MINIMAL"


def test_weights_come_from_the_env(table):
    other = LevelTable.from_env({**CONTRACT_ENV, "SERVICE_WEIGHTS": "database:20,openai:30,redis:45,s3:5"})
    assert expect({"redis"}, table).level == "DEGRADED"
    assert (expect({"redis"}, other).score, expect({"redis"}, other).level) == (55, "MINIMAL")


def test_features_follow_the_level_and_needed_services(table):
    assert all(expect(set(), table).features.values())
    s3_down = expect({"s3"}, table).features  # DEGRADED: OPTIMAL-only features off, s3 features off
    assert [f for f, ok in s3_down.items() if not ok] == ["s3_uploads", "file_storage", "image_processing",
                                                          "backup_operations"]
    db_down = expect({"database"}, table).features  # MINIMAL
    assert {f for f, ok in db_down.items() if ok} == {"read_only_access", "minimal_access"}
    redis_down = expect({"redis"}, table).features  # DEGRADED, redis features off
    assert {f for f, ok in redis_down.items() if not ok} == {
        "real_time_updates", "redis_cache", "session_storage", "rate_limiting", "real_time_inventory",
        "s3_uploads", "image_processing", "backup_operations"}
    limited = expect({"openai", "s3"}, table).features  # LIMITED
    assert {f for f, ok in limited.items() if ok} == {"session_storage", "basic_analytics", "read_only_access",
                                                       "minimal_access", "inventory_management"}


def test_read_only_access_needs_database_or_redis(table):
    assert expect({"database"}, table).features["read_only_access"]
    assert expect({"redis"}, table).features["read_only_access"]
    assert not expect({"database", "redis"}, table).features["read_only_access"]
    assert expect(set(SERVICES), table).features == {f: f == "minimal_access" for f in FEATURES}


def test_a_disabled_flag_turns_its_features_off():
    table = LevelTable.from_env({**CONTRACT_ENV, "FEATURE_AI_ENABLED": "false"})
    features = expect(set(), table).features
    assert not features["ai_recommendations"] and not features["full_ai_pipeline"]
    assert sum(not ok for ok in features.values()) == 2


@pytest.mark.parametrize("broken", [
    {"SERVICE_WEIGHTS": ""}, {"SERVICE_WEIGHTS": "database:50,openai:30,redis:20"},
    {"SERVICE_WEIGHTS": "database:x,openai:30,redis:15,s3:5"}, {"MINIMAL_THRESHOLD": "forty"},
])
def test_a_missing_or_malformed_value_is_a_config_error(broken):
    with pytest.raises(ConfigError):
        LevelTable.from_env({**CONTRACT_ENV, **broken})


def test_a_missing_threshold_is_not_silently_defaulted():
    env = dict(CONTRACT_ENV)
    del env["OPTIMAL_THRESHOLD"]
    with pytest.raises(ConfigError, match="OPTIMAL_THRESHOLD"):
        LevelTable.from_env(env)


def test_unknown_service_is_refused(table):
    with pytest.raises(ConfigError):
        expect({"mongodb"}, table)
