"""Health score and level table (docs/contract.md §4)."""

from __future__ import annotations

import pytest

from inventario_dashboard.resilience.levels import SERVICES, Level, Thresholds, health_score, level_for

CONTRACT_WEIGHTS = {"database": 50, "openai": 30, "redis": 15, "s3": 5}
CONTRACT_THRESHOLDS = Thresholds(90, 70, 60, 40)

# The 16 rows of the docs/contract.md §4 table: services down → score, level.
CONTRACT_TABLE = [
    ((), 100, Level.OPTIMAL),
    (("s3",), 95, Level.DEGRADED),
    (("redis",), 85, Level.DEGRADED),
    (("openai",), 70, Level.DEGRADED),
    (("database",), 50, Level.MINIMAL),
    (("redis", "s3"), 80, Level.DEGRADED),
    (("openai", "s3"), 65, Level.LIMITED),
    (("openai", "redis"), 55, Level.MINIMAL),
    (("database", "s3"), 45, Level.MINIMAL),
    (("database", "redis"), 35, Level.EMERGENCY),
    (("database", "openai"), 20, Level.EMERGENCY),
    (("openai", "redis", "s3"), 50, Level.MINIMAL),
    (("database", "openai", "redis"), 5, Level.EMERGENCY),
    (("database", "openai", "s3"), 15, Level.EMERGENCY),
    (("database", "redis", "s3"), 30, Level.EMERGENCY),
    (("database", "openai", "redis", "s3"), 0, Level.EMERGENCY),
]


def evaluate(statuses: dict[str, float], weights, thresholds) -> tuple[float, Level]:
    score = health_score(statuses, weights)
    return score, level_for(score, all(v == 1.0 for v in statuses.values()), thresholds)


def test_table_covers_every_combination_once():
    assert len({frozenset(down) for down, _, _ in CONTRACT_TABLE}) == 2 ** len(SERVICES) == 16


@pytest.mark.parametrize("down,score,level", CONTRACT_TABLE, ids=lambda v: "+".join(v) if isinstance(v, tuple) else None)
def test_contract_table_row(down, score, level, make_settings):
    s = make_settings()  # the defaults must reproduce the contract table
    values = {name: 0.0 if name in down else 1.0 for name in SERVICES}
    assert evaluate(values, s.service_weights, s.thresholds) == (score, level)
    assert evaluate(values, CONTRACT_WEIGHTS, CONTRACT_THRESHOLDS) == (score, level)


@pytest.mark.parametrize(
    "statuses,score,level",
    [
        ({"s3": 0.5}, 97.5, Level.DEGRADED),  # >= 90 but one service not up
        ({"database": 0.5}, 75, Level.DEGRADED),
        ({"openai": 0.5, "s3": 0.0}, 80, Level.DEGRADED),
        ({"openai": 0.5, "redis": 0.0, "s3": 0.0}, 65, Level.LIMITED),
        ({"database": 0.5, "redis": 0.5}, 67.5, Level.LIMITED),
        ({"database": 0.5, "openai": 0.5, "redis": 0.5, "s3": 0.5}, 50, Level.MINIMAL),
        ({"database": 0.0, "openai": 0.5, "s3": 0.5}, 32.5, Level.EMERGENCY),
    ],
)
def test_degraded_services_count_half(statuses, score, level):
    values = {name: statuses.get(name, 1.0) for name in SERVICES}
    assert evaluate(values, CONTRACT_WEIGHTS, CONTRACT_THRESHOLDS) == (score, level)


@pytest.mark.parametrize(
    "down,score,level",
    [
        ((), 100, Level.OPTIMAL),
        (("s3",), 75, Level.DEGRADED),
        (("s3", "redis"), 50, Level.LIMITED),
        (("s3", "redis", "openai"), 25, Level.MINIMAL),
        (("s3", "redis", "openai", "database"), 0, Level.EMERGENCY),
    ],
)
def test_custom_weights_and_thresholds_from_settings(make_settings, down, score, level):
    s = make_settings(
        service_weights="database:25,openai:25,redis:25,s3:25",
        optimal_threshold=80, degraded_threshold=60, limited_threshold=50, minimal_threshold=20,
    )
    values = {name: 0.0 if name in down else 1.0 for name in SERVICES}
    assert evaluate(values, s.service_weights, s.thresholds) == (score, level)


def test_optimal_score_without_every_service_up_is_degraded():
    # Weights where a down service still leaves the score above the optimal threshold.
    weights = {"database": 91, "openai": 3, "redis": 3, "s3": 3}
    values = {"database": 1.0, "openai": 1.0, "redis": 1.0, "s3": 0.0}
    assert evaluate(values, weights, CONTRACT_THRESHOLDS) == (97, Level.DEGRADED)


def test_score_rejects_missing_service_and_out_of_range_values():
    with pytest.raises(KeyError):
        health_score({"database": 1.0}, CONTRACT_WEIGHTS)
    with pytest.raises(ValueError):
        health_score({"database": 1.5, "openai": 1, "redis": 1, "s3": 1}, CONTRACT_WEIGHTS)


def test_levels_are_ordered_worst_highest():
    assert [lvl.value for lvl in Level] == [1, 2, 3, 4, 5]
    assert Level.EMERGENCY > Level.MINIMAL > Level.LIMITED > Level.DEGRADED > Level.OPTIMAL
