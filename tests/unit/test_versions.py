"""Service versions are asked of the live service; one that does not answer is 'unknown', never guessed."""

import socket

from stagectl.config.model import Healthcheck, Service
from stagectl.versions import measure_versions


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service(runner: str) -> Service:
    port = _closed_port()
    return Service(runner=runner, port=port, container_port=port, healthcheck=Healthcheck(probe="tcp"))


def test_a_service_that_does_not_answer_is_reported_unknown_not_guessed():
    services = {"prometheus": _service("prometheus"), "s3": _service("moto")}
    versions = measure_versions(services, {}, {"prometheus", "s3"})
    assert versions["prometheus"].startswith("unknown (")
    assert versions["s3"].startswith("unknown (")


def test_only_running_services_are_asked():
    services = {"prometheus": _service("prometheus"), "s3": _service("moto")}
    assert set(measure_versions(services, {}, {"s3"})) == {"s3"}


def test_a_runner_without_a_probe_says_so():
    services = {"custom": _service("command")}
    assert measure_versions(services, {}, {"custom"}) == {"custom": "unknown (no version probe for this runner)"}
