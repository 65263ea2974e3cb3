"""Pure logic of day-two operation: the restart policy's decisions and the log lines' times."""

from __future__ import annotations

import datetime as dt

import pytest

from stagectl.backends.local.restarts import MAX_RESTARTS, STABLE_S, WINDOW_S, RestartPolicy
from stagectl.logstream import dated_lines, line_time, parse_since


def test_policy_modes():
    assert RestartPolicy("no", backoff=1).decide(1, up_for=5, now=0).action == "leave"
    assert RestartPolicy("on-failure", backoff=1).decide(0, up_for=5, now=0).action == "leave"
    assert RestartPolicy("on-failure", backoff=1).decide(-9, up_for=5, now=0).action == "restart"  # a signal fails
    assert RestartPolicy("always", backoff=1).decide(0, up_for=5, now=0).action == "restart"


def test_back_off_doubles_then_a_crash_loop_verdict_and_a_stable_run_starts_over():
    policy = RestartPolicy("unless-stopped", backoff=0.5)
    delays = []
    for i in range(MAX_RESTARTS):
        decision = policy.decide(1, up_for=1, now=float(i))
        assert decision.action == "restart"
        delays.append(decision.delay)
        policy.record(now=float(i))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    verdict = policy.decide(1, up_for=1, now=float(MAX_RESTARTS))
    assert verdict.action == "crash-loop" and f"{MAX_RESTARTS + 1} exits" in verdict.reason
    assert policy.decide(1, up_for=STABLE_S, now=10.0).action == "restart"  # ran long enough: forgiven
    old = RestartPolicy("always", backoff=0.5)
    for i in range(MAX_RESTARTS):
        old.record(now=float(i))
    assert old.decide(1, up_for=1, now=WINDOW_S + 10).delay == 0.5  # restarts outside the window do not count


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-04 23:42:25.325 UTC [14084] LOG:  starting", dt.datetime(2026, 12, 4, 23, 42, 25, 325000, dt.timezone.utc)),
    ('{"ts": "2026-12-04T23:44:30.555+00:00", "level": "INFO"}', dt.datetime(2026, 12, 4, 23, 44, 30, 555000, dt.timezone.utc)),
    ("ts=2026-12-04T23:17:01.5Z caller=main.go", dt.datetime(2026, 12, 4, 23, 17, 1, 500000, dt.timezone.utc)),
])
def test_line_times(text, expected):
    assert line_time(text) == expected.timestamp()


def test_redis_time_and_undated_lines_inherit_and_since():
    lines = dated_lines("r", ["no time yet", "1:M 04 Dec 2026 23:42:47.470 * Ready", "continued"])
    assert lines[0].at is None and lines[1].at is not None and lines[2].at == lines[1].at
    assert parse_since("10m", now=1000.0) == 400.0 and parse_since("2h", now=10000.0) == 2800.0
    with pytest.raises(ValueError, match="expected a duration"):
        parse_since("yesterday-ish")
