"""The chaos alert watch's reload wait: Prometheus's /metrics may hang while a reload waits for an
in-flight scrape (seen in CI: a 10 s reload after the redis-frozen scenario ended chaos with an
internal ReadTimeout). A timeout is "not reloaded yet"; only the deadline fails."""

from __future__ import annotations

import httpx
import pytest

from stagectl.chaos.alerts import AlertWatch


def _metrics(at: float) -> str:
    return ("prometheus_config_last_reload_successful 1\n"
            f"prometheus_config_last_reload_success_timestamp_seconds {at}\n")


def _watch(tmp_path, answers, **kw) -> AlertWatch:
    watch = AlertWatch("http://prometheus.invalid", tmp_path / "prometheus.yml", send_hup=lambda: None, **kw)
    calls = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, text=_metrics(answer))

    watch.client = httpx.Client(base_url=watch.url, transport=httpx.MockTransport(handler))
    return watch


def test_a_hanging_metrics_page_during_the_reload_is_waited_out(tmp_path):
    hang = httpx.ReadTimeout("timed out")
    _watch(tmp_path, [100.0, hang, hang, 100.0, 200.0])._reload()  # returns: the reload was seen


def test_no_new_reload_before_the_deadline_fails(tmp_path):
    hang = httpx.ReadTimeout("timed out")
    watch = _watch(tmp_path, [100.0] + [hang, 100.0] * 1000, reload_timeout=0.3)
    with pytest.raises(RuntimeError, match="did not report a successful reload"):
        watch._reload()


def test_under_compose_the_watch_says_it_cannot_run(tmp_path):
    """Fault seen in CI: under compose the watch edited a local stack's leftover config and
    signalled the container's Prometheus, which never read it: the alert checks failed."""
    (tmp_path / "prometheus.yml").write_text("global: {}\n", encoding="utf-8")
    watch = AlertWatch("http://prometheus.invalid", tmp_path / "prometheus.yml", send_hup=lambda: None,
                       backend_name="compose")
    assert "compose backend's Prometheus reads the rendered config read-only" in (watch.unavailable() or "")
