"""DegradationManager: probes through breakers, recovery rule, transitions, prediction."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest

from inventario_dashboard.resilience.breaker import BreakerState, breakers_from_settings
from inventario_dashboard.resilience.levels import SERVICES, Level
from inventario_dashboard.resilience.manager import DegradationManager

WALL_TIME = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Probes:
    """Controllable probes: each service is "ok", "fail" or "hang"; latency advances the fake clock."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.mode = {name: "ok" for name in SERVICES}
        self.latency_s = {name: 0.0 for name in SERVICES}
        self.calls: Counter[str] = Counter()

    def for_manager(self):
        return {name: self._probe(name) for name in SERVICES}

    def _probe(self, name):
        async def probe() -> None:
            self.calls[name] += 1
            self.clock.advance(self.latency_s[name])
            if self.mode[name] == "fail":
                raise ConnectionError(f"{name} refused the connection")
            if self.mode[name] == "hang":
                await asyncio.sleep(30)

        return probe


@pytest.fixture
def world(make_settings, clock):
    """Build (manager, probes) for the given settings overrides."""

    def build(**overrides):
        s = make_settings(**overrides)
        probes = Probes(clock)
        manager = DegradationManager(
            s, breakers_from_settings(s, clock=clock), probes.for_manager(),
            clock=clock, wall_clock=lambda: WALL_TIME,
        )
        return manager, probes

    return build


def evaluate(manager: DegradationManager, times: int = 1) -> None:
    for _ in range(times):
        asyncio.run(asyncio.wait_for(manager.evaluate_once(), 5))


def test_nothing_known_before_the_first_evaluation_then_level_set_directly(world):
    manager, _ = world()
    assert manager.level == Level.EMERGENCY
    assert {h.last_error for h in manager.services.values()} == {"not checked yet"}
    evaluate(manager)
    assert (manager.level, manager.score) == (Level.OPTIMAL, 100)
    assert all(h.status == "up" and h.last_check.startswith("2023-11-14T22:13:20") for h in manager.services.values())


def test_worsening_is_immediate_and_improving_needs_recovery_checks(world):
    manager, probes = world()  # DEGRADATION_RECOVERY_CHECKS defaults to 2
    evaluate(manager)
    probes.mode["database"] = "fail"
    evaluate(manager)
    assert (manager.level, manager.score) == (Level.MINIMAL, 50)
    assert manager.services["database"].last_error == "ConnectionError: database refused the connection"
    probes.mode["database"] = "ok"
    evaluate(manager)
    assert manager.level == Level.MINIMAL and manager.score == 100
    evaluate(manager)
    assert manager.level == Level.OPTIMAL


@pytest.mark.parametrize("checks", [1, 3, 5])
def test_recovery_checks_come_from_settings(world, checks):
    manager, probes = world(degradation_recovery_checks=checks)
    evaluate(manager)
    probes.mode["openai"] = "fail"
    evaluate(manager)
    probes.mode["openai"] = "ok"
    evaluate(manager, checks - 1)
    assert manager.level == Level.DEGRADED
    evaluate(manager)
    assert manager.level == Level.OPTIMAL


def test_improvement_goes_to_the_worst_level_seen_during_the_streak(world):
    manager, probes = world()
    evaluate(manager)
    probes.mode["database"] = "fail"
    evaluate(manager)
    probes.mode["database"] = "ok"
    evaluate(manager)  # target OPTIMAL
    probes.mode["s3"] = "fail"
    evaluate(manager)  # target DEGRADED
    assert manager.level == Level.DEGRADED


def test_flapping_dependency_does_not_flap_the_level(world):
    manager, probes = world()
    evaluate(manager)
    for i in range(40):
        probes.mode["redis"] = "fail" if i % 2 == 0 else "ok"
        evaluate(manager)
        assert manager.level == Level.DEGRADED
    assert [(t["from"], t["to"]) for t in manager.transitions(limit=100)] == [
        ("EMERGENCY", "OPTIMAL"), ("OPTIMAL", "DEGRADED"),
    ]
    assert manager.breakers["redis"].state is BreakerState.CLOSED  # never 5 failures in a row
    probes.mode["redis"] = "ok"
    evaluate(manager, 2)
    assert manager.level == Level.OPTIMAL


@pytest.mark.parametrize("service", SERVICES)
def test_probe_slower_than_its_budget_is_degraded(world, service):
    budgets = {f"{p}_health_budget_ms": 1000 for p in ("db", "openai", "redis", "s3")}
    prefix = {"database": "db"}.get(service, service)
    manager, probes = world(**{**budgets, f"{prefix}_health_budget_ms": 100})
    probes.latency_s[service] = 0.5
    evaluate(manager)
    health = manager.services[service]
    assert health.status == "degraded" and health.latency_ms == pytest.approx(500)
    assert manager.score == 100 - manager.settings.service_weights[service] / 2
    assert manager.level == Level.DEGRADED
    assert manager.service_up(service) is True
    others = [h.status for n, h in manager.services.items() if n != service]
    assert others == ["up", "up", "up"]


@pytest.mark.parametrize("latency_s,status", [(0.09, "up"), (0.11, "degraded")])
def test_budget_boundary(world, latency_s, status):
    manager, probes = world(redis_health_budget_ms=100)
    probes.latency_s["redis"] = latency_s
    evaluate(manager)
    assert manager.services["redis"].status == status


def test_probe_timeout_is_down(world):
    manager, probes = world(health_check_timeout=0.05)
    probes.mode["openai"] = "hang"
    evaluate(manager)
    assert manager.services["openai"].status == "down"
    assert manager.services["openai"].last_error == "probe timed out after 0.05s"
    assert manager.breakers["openai"].failure_count == 1  # the timeout went through the breaker
    assert manager.level == Level.DEGRADED


def test_probe_whose_cleanup_blocks_after_cancel_is_still_bounded(world):
    """A frozen peer: the probe's clean-up (a pool returning its connection) blocks after the
    cancel. asyncio.wait_for would wait for it forever and freeze the evaluation loop."""
    manager, _ = world(health_check_timeout=0.05)

    async def stuck_even_when_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(asyncio.sleep(30))  # clean-up that ignores the cancel

    async def scenario() -> None:
        manager._probes["database"] = stuck_even_when_cancelled
        await asyncio.wait_for(manager.evaluate_once(), 2)  # fails the test if the loop hangs
        for task in list(manager._abandoned):
            task.remove_done_callback(manager._forget_abandoned)
            task.cancel()

    asyncio.run(scenario())
    assert manager.services["database"].status == "down"
    assert manager.services["database"].last_error == "probe timed out after 0.05s"


def test_probes_run_concurrently(world):
    manager, _ = world(health_check_timeout=2)
    started: list[str] = []

    def barrier_probe(name):
        async def probe() -> None:
            started.append(name)
            while len(started) < len(SERVICES):  # sequential probes would wait here until timeout
                await asyncio.sleep(0.001)

        return probe

    manager._probes = {name: barrier_probe(name) for name in SERVICES}
    evaluate(manager)
    assert sorted(started) == sorted(SERVICES)
    assert {h.status for h in manager.services.values()} == {"up"}


def test_open_breaker_means_down_without_probing(world, clock):
    manager, probes = world()  # database breaker trips after 3
    probes.mode["database"] = "fail"
    evaluate(manager, 3)
    assert manager.breakers["database"].state is BreakerState.OPEN
    probes.mode["database"] = "ok"
    calls = probes.calls["database"]
    clock.advance(5)
    evaluate(manager)
    assert probes.calls["database"] == calls
    assert manager.services["database"].status == "down"
    assert "open" in manager.services["database"].last_error


def test_half_open_breaker_means_degraded_until_closed(world, clock):
    manager, probes = world()  # openai: threshold 5, recovery 30 s, 2 trials
    evaluate(manager)
    probes.mode["openai"] = "fail"
    evaluate(manager, 5)
    assert manager.breakers["openai"].state is BreakerState.OPEN
    probes.mode["openai"] = "ok"
    clock.advance(30)
    evaluate(manager)
    assert manager.breakers["openai"].state is BreakerState.HALF_OPEN
    assert manager.services["openai"].status == "degraded" and manager.score == 85
    evaluate(manager)
    assert manager.services["openai"].status == "up"
    assert manager.breakers["openai"].state is BreakerState.CLOSED


def test_half_open_with_all_trial_slots_taken_is_degraded_not_down(world, clock):
    manager, probes = world()
    probes.mode["openai"] = "fail"
    evaluate(manager, 5)
    clock.advance(30)
    breaker = manager.breakers["openai"]

    async def scenario() -> None:
        gate = asyncio.Event()
        trials = [asyncio.create_task(breaker.call(gate.wait)) for _ in range(breaker.half_open_max_calls)]
        await asyncio.sleep(0)
        calls = probes.calls["openai"]
        await manager.evaluate_once()
        assert probes.calls["openai"] == calls  # no slot left for the probe
        gate.set()
        await asyncio.gather(*trials)

    asyncio.run(asyncio.wait_for(scenario(), 5))
    health = manager.services["openai"]
    assert health.status == "degraded"
    assert health.last_error == "circuit breaker half-open: trial calls in flight"


def test_transitions_are_recorded_and_capped_at_100(world):
    manager, probes = world(degradation_recovery_checks=1)
    evaluate(manager)
    for i in range(120):
        probes.mode["s3"] = "fail" if i % 2 == 0 else "ok"
        evaluate(manager)
    everything = manager.transitions(limit=1000)
    assert len(everything) == 100
    assert everything[-1]["to"] == manager.level.name
    assert manager.transitions() == everything[-10:]
    first = everything[0]
    assert set(first) == {"from", "to", "score", "at"}
    assert first["score"] in (95.0, 100.0)
    assert datetime.fromisoformat(first["at"]).timestamp() == WALL_TIME


def degrade_for(manager, probes, clock, seconds: float, service: str = "database") -> None:
    probes.mode[service] = "fail"
    evaluate(manager)
    clock.advance(seconds)
    probes.mode[service] = "ok"
    evaluate(manager, manager.settings.degradation_recovery_checks)
    assert manager.level == Level.OPTIMAL


def test_recovery_prediction_none_when_optimal_and_without_history(world):
    manager, probes = world()
    evaluate(manager)
    assert manager.recovery_prediction() is None
    probes.mode["s3"] = "fail"
    evaluate(manager)
    prediction = manager.recovery_prediction()
    assert prediction["expected_recovery_s"] is None
    assert prediction["breakers"] == {}


def test_recovery_prediction_is_the_mean_of_past_episodes(world, clock):
    manager, probes = world()
    evaluate(manager)
    degrade_for(manager, probes, clock, 30)
    degrade_for(manager, probes, clock, 50)
    probes.mode["database"] = "fail"
    evaluate(manager, 3)  # the database breaker opens on the third failure
    clock.advance(7)
    prediction = manager.recovery_prediction()
    assert prediction["expected_recovery_s"] == pytest.approx(40.0)
    assert prediction["degraded_for_s"] == pytest.approx(7.0)
    assert prediction["breakers"] == {"database": pytest.approx(13.0)}  # 20 s recovery - 7 s


def test_recovery_prediction_uses_the_last_20_episodes(world, clock):
    manager, probes = world(degradation_recovery_checks=1)
    evaluate(manager)
    for seconds in range(1, 26):
        degrade_for(manager, probes, clock, seconds, service="s3")
    probes.mode["s3"] = "fail"
    evaluate(manager)
    assert manager.recovery_prediction()["expected_recovery_s"] == pytest.approx(sum(range(6, 26)) / 20)


def test_recovery_prediction_disabled_by_settings(world):
    manager, probes = world(degradation_recovery_prediction=False)
    probes.mode["database"] = "fail"
    evaluate(manager)
    assert manager.level == Level.MINIMAL
    assert manager.recovery_prediction() is None


def test_report_failure_marks_down_and_worsens_at_once(world):
    manager, probes = world()
    seen: list[Level] = []
    manager.add_listener(lambda m: seen.append(m.level))
    evaluate(manager)
    manager.report_failure("database")
    assert manager.services["database"].status == "down"
    assert manager.level == Level.MINIMAL and seen[-1] == Level.MINIMAL
    evaluate(manager)  # database answers again: one good evaluation is not enough
    assert manager.level == Level.MINIMAL
    evaluate(manager)
    assert manager.level == Level.OPTIMAL


def test_reported_failure_restarts_the_recovery_streak(world):
    manager, probes = world()
    evaluate(manager)
    probes.mode["database"] = "fail"
    evaluate(manager)
    probes.mode["database"] = "ok"
    evaluate(manager)  # one good evaluation towards recovery
    manager.report_failure("s3")  # a real call failed in between
    evaluate(manager)
    assert manager.level == Level.MINIMAL
    evaluate(manager)
    assert manager.level == Level.OPTIMAL


def test_features_follow_level_and_services(world):
    manager, probes = world()
    probes.mode["database"] = "fail"
    evaluate(manager)
    features = manager.features()
    assert manager.level == Level.MINIMAL
    assert features["inventory_management"] is False  # database down
    assert features["read_only_access"] is True  # served from redis
    assert features["session_storage"] is False  # MINIMAL is worse than LIMITED
    assert manager.feature_available("minimal_access") is True


def test_feature_flag_from_settings_applies_in_manager(world):
    manager, _ = world(feature_cache_enabled=False)
    evaluate(manager)
    assert manager.feature_available("redis_cache") is False
    assert manager.feature_available("real_time_updates") is True


def test_broken_listener_does_not_stop_evaluation(world):
    manager, _ = world()
    calls: list[int] = []

    def broken(_m) -> None:
        raise RuntimeError("metrics exploded")

    manager.add_listener(broken)
    manager.add_listener(lambda m: calls.append(1))
    evaluate(manager, 3)
    assert len(calls) == 3


def test_run_loops_until_cancelled(world):
    manager, _ = world(health_check_interval=0.01)
    evaluations: list[float] = []
    manager.add_listener(lambda m: evaluations.append(m.score))

    async def scenario() -> None:
        task = asyncio.create_task(manager.run())
        for _ in range(200):
            if len(evaluations) >= 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert len(evaluations) >= 3


def test_probes_and_breakers_must_cover_every_service(world, make_settings, clock):
    s = make_settings()
    breakers = breakers_from_settings(s, clock=clock)
    with pytest.raises(ValueError):
        DegradationManager(s, breakers, {"database": Probes(clock).for_manager()["database"]})
