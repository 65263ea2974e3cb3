"""Chaos scenarios: break dependencies of the running stack and check the dashboard degrades as
docs/contract.md §4–§5 say, enforces it on its endpoints, and recovers.

The expectation is computed by stagectl's *own* copy of the contract tables (weights and
thresholds from the project env), never by importing the dashboard: a dashboard with a wrong level
table must fail here. The expectation is pure (unit-tested against docs/contract.md's rows); the HTTP
side lives in stagectl.chaos.probe, the run loop in stagectl.chaos.runner.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

from stagectl.errors import ConfigError
from stagectl.levels import LEVELS

SERVICES = ("database", "openai", "redis", "s3")

# docs/contract.md §5, copied on purpose. feature → (worst level it works at, services it needs,
# whether one of them suffices, the feature-flag variable that can switch it off).
FEATURES: dict[str, tuple[str, tuple[str, ...], bool, str | None]] = {
    "inventory_management": ("MINIMAL", ("database",), False, None),
    "ai_recommendations": ("DEGRADED", ("openai", "database"), False, "FEATURE_AI_ENABLED"),
    "real_time_updates": ("DEGRADED", ("redis",), False, "FEATURE_REALTIME_ENABLED"),
    "redis_cache": ("DEGRADED", ("redis",), False, "FEATURE_CACHE_ENABLED"),
    "session_storage": ("LIMITED", ("redis",), False, None),
    "rate_limiting": ("DEGRADED", ("redis",), False, None),
    "s3_uploads": ("OPTIMAL", ("s3",), False, "FEATURE_S3_ENABLED"),
    "file_storage": ("DEGRADED", ("s3",), False, "FEATURE_S3_ENABLED"),
    "image_processing": ("OPTIMAL", ("s3",), False, "FEATURE_S3_ENABLED"),
    "backup_operations": ("OPTIMAL", ("s3", "database"), False, "FEATURE_S3_ENABLED"),
    "full_ai_pipeline": ("DEGRADED", ("openai", "database"), False, "FEATURE_AI_ENABLED"),
    "advanced_analytics": ("DEGRADED", ("database",), False, "FEATURE_ANALYTICS_ENABLED"),
    "real_time_inventory": ("DEGRADED", ("redis", "database"), False, "FEATURE_REALTIME_ENABLED"),
    "basic_analytics": ("LIMITED", ("database",), False, "FEATURE_ANALYTICS_ENABLED"),
    "read_only_access": ("EMERGENCY", ("database", "redis"), True, None),
    "minimal_access": ("EMERGENCY", (), False, None),
}
_THRESHOLD_VARS = ("OPTIMAL_THRESHOLD", "DEGRADED_THRESHOLD", "LIMITED_THRESHOLD", "MINIMAL_THRESHOLD")
_TRUE = ("1", "true", "yes", "on")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not str(value).strip():
        raise ConfigError(f"{name} is not set; chaos needs it to compute the expected level",
                          hint="see .env.staging.example")
    return str(value).strip()


@dataclasses.dataclass(frozen=True)
class LevelTable:
    """The contract's scoring rules with this project's numbers."""

    weights: dict[str, float]
    thresholds: tuple[float, float, float, float]  # optimal, degraded, limited, minimal
    flags: dict[str, bool]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LevelTable:
        """SERVICE_WEIGHTS, the four *_THRESHOLD and the FEATURE_* flags; ConfigError when malformed."""
        weights: dict[str, float] = {}
        raw = _required(env, "SERVICE_WEIGHTS")
        try:
            for item in raw.split(","):
                name, _, number = item.partition(":")
                weights[name.strip()] = float(number)
            thresholds = tuple(float(_required(env, v)) for v in _THRESHOLD_VARS)
        except ValueError as exc:
            raise ConfigError(f"bad SERVICE_WEIGHTS or threshold: {exc}") from None
        if set(weights) != set(SERVICES):
            raise ConfigError(f"SERVICE_WEIGHTS must name exactly {', '.join(SERVICES)}; got {raw!r}")
        flag_vars = {flag for *_, flag in FEATURES.values() if flag}
        flags = {var: str(env.get(var, "true")).strip().lower() in _TRUE for var in flag_vars}
        return cls(weights, thresholds, flags)  # type: ignore[arg-type]

    def score(self, down: frozenset[str]) -> float:
        return sum(w for name, w in self.weights.items() if name not in down)

    def level(self, down: frozenset[str]) -> str:
        score, (optimal, degraded, limited, minimal) = self.score(down), self.thresholds
        if score >= optimal and not down:
            return "OPTIMAL"
        for name, bound in (("DEGRADED", degraded), ("LIMITED", limited), ("MINIMAL", minimal)):
            if score >= bound:
                return name
        return "EMERGENCY"

    def features(self, down: frozenset[str]) -> dict[str, bool]:
        level = LEVELS.index(self.level(down))
        out = {}
        for name, (worst, needs, any_of, flag) in FEATURES.items():
            ups = [service not in down for service in needs]
            services_ok = (any(ups) if any_of else all(ups)) if needs else True
            flag_ok = flag is None or self.flags[flag]
            out[name] = level <= LEVELS.index(worst) and services_ok and flag_ok
        return out


@dataclasses.dataclass(frozen=True)
class Expectation:
    down: frozenset[str]
    score: float
    level: str
    features: dict[str, bool]


def expect(down: frozenset[str] | set[str], table: LevelTable) -> Expectation:
    """What docs/contract.md §4–§5 say the dashboard must show with `down` services down."""
    down = frozenset(down)
    unknown = down - set(SERVICES)
    if unknown:
        raise ConfigError(f"unknown service(s) {', '.join(sorted(unknown))}; known: {', '.join(SERVICES)}")
    return Expectation(down, table.score(down), table.level(down), table.features(down))


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One chaos scenario: which services go down and how (a fault per service)."""

    name: str
    faults: tuple[tuple[str, str], ...]  # (contract service, fault name)
    hold_breaker_open: str | None = None  # keep the fault until this service's breaker is OPEN

    @property
    def down(self) -> frozenset[str]:
        return frozenset(service for service, _ in self.faults)


def quick_scenarios() -> list[Scenario]:
    """The dashboard's four classic failure modes (database down, Redis down, S3 down, OpenAI breaker
    open) plus one hung (frozen) dependency."""
    return [
        Scenario("database-down", (("database", "stop"),)),
        Scenario("redis-down-cache-bypass", (("redis", "stop"),)),
        Scenario("s3-down-fallback", (("s3", "stop"),)),
        Scenario("openai-breaker-open", (("openai", "error"),), hold_breaker_open="openai"),
        Scenario("redis-frozen", (("redis", "freeze"),)),
    ]


def matrix_scenarios() -> list[Scenario]:
    """All 16 up/down combinations; openai goes down through the stub's error mode, the rest stop."""
    out = []
    for size in range(len(SERVICES) + 1):
        for combo in itertools.combinations(SERVICES, size):
            faults = tuple((s, "error" if s == "openai" else "stop") for s in combo)
            out.append(Scenario("matrix:" + ("+".join(combo) or "none"), faults))
    return out


SCENARIO_SETS = {"quick": quick_scenarios, "matrix": matrix_scenarios}
