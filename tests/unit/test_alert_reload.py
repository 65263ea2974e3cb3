"""The chaos alert watch's reload wait: Prometheus's /metrics may hang while a reload waits for an
in-flight scrape (seen in CI: a 10 s reload after the redis-frozen scenario ended chaos with an
internal ReadTimeout). A timeout is "not reloaded yet"; only the deadline fails."""

from __future__ import annotations

import httpx
import pytest
import yaml

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


class _Prometheus:
    """Prometheus's reload metrics and running config, as a watch reads them: a HUP loads the
    file at `reads` (the config the container really mounts)."""

    def __init__(self, reads):
        self.reads, self.reloads, self.running = reads, 0, reads.read_text(encoding="utf-8")

    def hup(self):
        self.reloads += 1
        self.running = self.reads.read_text(encoding="utf-8")

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/status/config":
            return httpx.Response(200, json={"status": "success", "data": {"yaml": self.running}})
        return httpx.Response(200, text=_metrics(100.0 + self.reloads))


def _compose_config(tmp_path):
    """The compose copy as compose_prometheus.prepare leaves it: a relative rule path."""
    from stagectl.backends.compose_prometheus import write_shared

    folder = tmp_path / "compose-prometheus"
    folder.mkdir()
    write_shared(folder / "alerts.staging.yml", yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "RedisCircuitBreakerOpen", "expr": "x == 1", "for": "2m"}]}]}))
    return write_shared(folder / "prometheus.yml", yaml.safe_dump({
        "global": {"scrape_interval": "15s"}, "rule_files": ["alerts.staging.yml"]}))


def _compose_watch(config, reads) -> tuple[AlertWatch, _Prometheus]:
    prometheus = _Prometheus(reads)
    watch = AlertWatch("http://prometheus.invalid", config, send_hup=prometheus.hup, rules_ref="stagectl")
    watch.client = httpx.Client(base_url=watch.url, transport=httpx.MockTransport(prometheus.handler))
    return watch, prometheus


def test_under_compose_rule_copies_are_named_as_the_container_mounts_them(tmp_path):
    """Fault seen in CI: under compose the watch could only edit a file the container never read,
    so the alert checks were skipped there. Now it edits the project's mounted copy: rule copies are
    named under the mount (stagectl/…), readable by the image's own user, and the config keeps its
    inode (a single-file bind mount follows it); everything is as before afterwards."""
    config = _compose_config(tmp_path)
    original, inode = config.read_text(encoding="utf-8"), config.stat().st_ino
    watch, prometheus = _compose_watch(config, reads=config)
    with watch:
        chaos = yaml.safe_load(prometheus.running)
        assert chaos["global"]["scrape_interval"] == "1s"
        assert chaos["rule_files"] == ["stagectl/chaos-rules-0.yml"]
        copy = config.with_name("chaos-rules-0.yml")
        assert copy.stat().st_mode & 0o777 == 0o644
        assert yaml.safe_load(copy.read_text())["groups"][0]["rules"][0]["for"] == "1s"
        assert config.stat().st_ino == inode
    assert config.read_text(encoding="utf-8") == original and prometheus.running == original
    assert prometheus.reloads == 2


def test_a_prometheus_that_reloads_another_file_fails_the_watch_and_its_config_is_restored(tmp_path):
    config = _compose_config(tmp_path)
    original = config.read_text(encoding="utf-8")
    elsewhere = tmp_path / "render.yml"
    elsewhere.write_text(original, encoding="utf-8")
    watch, _ = _compose_watch(config, reads=elsewhere)
    with pytest.raises(RuntimeError, match="scrapes every 15s, not 1s: it does not read"):
        with watch:
            pass
    assert config.read_text(encoding="utf-8") == original
