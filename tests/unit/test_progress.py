"""Progress of long phases: plain lines without a terminal, nothing when no command asked for it."""

from __future__ import annotations

import io

from stagectl import progress


def test_plain_lines_say_done_total_elapsed_and_what_runs_next():
    ticks = iter([10.0, 10.0, 22.5])
    out = io.StringIO()
    reporter = progress.PlainReporter(out, clock=lambda: next(ticks))
    reporter("chaos", 0, 2, "redis-down")
    reporter("chaos", 1, 2, "llm-error")
    assert out.getvalue().splitlines() == ["chaos: 0/2 done (0.0s), next: redis-down",
                                           "chaos: 1/2 done (12.5s), next: llm-error"]


def test_step_is_silent_unless_a_command_installed_a_reporter(capsys):
    progress.step("bench", 1, 3, "x")
    assert capsys.readouterr().err == ""
    with progress.reporting(terminal=False):
        progress.step("bench", 1, 3, "db_query")
    assert capsys.readouterr().err.strip() == "bench: 1/3 done (0.0s), next: db_query"
    progress.step("bench", 2, 3, "")
    assert capsys.readouterr().err == ""  # uninstalled again


def test_the_chaos_runner_reports_each_scenario(monkeypatch):
    from stagectl.chaos import runner as chaos_runner

    seen = []
    monkeypatch.setattr(progress, "_reporter", lambda *a: seen.append(a))
    scenarios = [chaos_runner.Scenario("one", (("redis", "stop"),)), chaos_runner.Scenario("two", (("s3", "stop"),))]

    class Fake:
        clock = staticmethod(lambda: 0.0)

        def run_one(self, scenario):
            return chaos_runner.ScenarioResult(scenario.name, [], {}, "OPTIMAL", 100.0, restored=True,
                                               time_to_recover_s=1.0, status="pass")

    monkeypatch.setattr(chaos_runner, "final_health", lambda runner: (True, ""))
    fake = Fake()
    fake.dashboard = type("D", (), {"timeline": [], "scenario": ""})()
    fake.timing = type("T", (), {"interval": 1.0})()
    chaos_runner.run_chaos(fake, scenarios)
    assert seen == [("chaos", 0, 2, "one"), ("chaos", 1, 2, "two"), ("chaos", 2, 2, "final health")]
