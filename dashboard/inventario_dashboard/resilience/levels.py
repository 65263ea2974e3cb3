"""Health score and degradation level (docs/contract.md §4) — pure functions, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

SERVICES = ("database", "openai", "redis", "s3")

# Value of a service in the health score, by status.
STATUS_VALUE = {"up": 1.0, "degraded": 0.5, "down": 0.0}


class Level(enum.IntEnum):
    """Degradation level; a larger number is worse (also the metric value 1–5)."""

    OPTIMAL = 1
    DEGRADED = 2
    LIMITED = 3
    MINIMAL = 4
    EMERGENCY = 5


@dataclass(frozen=True)
class Thresholds:
    """Lower score bounds of the levels (OPTIMAL_/DEGRADED_/LIMITED_/MINIMAL_THRESHOLD)."""

    optimal: float
    degraded: float
    limited: float
    minimal: float


def health_score(values: Mapping[str, float], weights: Mapping[str, int]) -> float:
    """Σ weight × value over the weighted services (value 1.0 up, 0.5 degraded, 0 down).

    A weighted service missing from `values` is a caller bug and raises KeyError.
    """
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"value of {name} must be within 0..1, got {value}")
    return float(sum(weight * values[name] for name, weight in weights.items()))


def level_for(score: float, all_up: bool, thresholds: Thresholds) -> Level:
    """Level for a score: OPTIMAL needs the optimal score *and* every service up."""
    if score >= thresholds.optimal and all_up:
        return Level.OPTIMAL
    if score >= thresholds.degraded:
        return Level.DEGRADED
    if score >= thresholds.limited:
        return Level.LIMITED
    if score >= thresholds.minimal:
        return Level.MINIMAL
    return Level.EMERGENCY
