"""The backend contract (contract.py) against the real local backend: tiny fake services
(tests/reliability/services/fake_service.py) as `runner: command` processes on free loopback ports
in a tmp project, driven through `LocalBackend` in-process.

Ground truth is /proc, not the backend: a service runs when a live, non-zombie process carrying
this test's marker variable has that service's pidfile on its command line. The reliability
tier's `project` fixture kills and fails on any marked process left after a test.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from contract import BackendContract, Scenario

from stagectl.backends.local import from_project
from stagectl.config.loader import load_project
from tests.reliability.conftest import (
    MARKER,
    Project,
    marked_pids,
    project,  # noqa: F401 - the fixture with the no-orphan finalizer
)

pytestmark = pytest.mark.timeout(60)

# The service writes its own data before it execs the fake: data_exists() then sees what a
# service put into the DATA_DIR the backend gave it, not a directory the backend merely created.
DATA_MARK = 'echo kept > "$$DATA_DIR/marker" && exec "$$0" "$$@"'  # $$: a literal $ in stagectl.yaml
MARKER_VAR = "CONTRACT_LOG_MARKER"


class LocalHarness:
    """ContractHarness for the local backend (see contract.py)."""

    services = ["db", "web"]  # yaml.safe_dump sorts keys: the stack's order is alphabetical
    wait_timeout = 10.0
    short_timeout = 1.0

    def __init__(self, proj: Project):
        self.proj = proj
        self.log_marker = f"never-healthy-{uuid.uuid4().hex[:8]}"

    def _service(self, name: str, scenario: Scenario) -> dict:
        deps = ["db"] if name == "web" else []
        if scenario.preflight_fails and name == "db":
            return self.proj.service(name, command=["no-such-binary-for-the-contract"], depends_on=deps)
        args = ["--healthy-after", "0.2"]  # a short start-up: `up` really has to wait
        extra = {}
        if name == scenario.never_healthy:
            args = ["--never-healthy", "--echo-env", MARKER_VAR]
            extra["environment"] = {MARKER_VAR: self.log_marker}
        if name == scenario.crashes:
            args = ["--healthy-after", "30", "--exit-after", "0.3", "--code", "1"]
        spec = self.proj.service(name, *args, depends_on=deps, **extra)
        spec["command"] = ["sh", "-c", DATA_MARK, *spec["command"]]
        return spec

    def backend(self, scenario: Scenario):
        self.proj.write({name: self._service(name, scenario) for name in self.services})
        return from_project(load_project(self.proj.dir))

    def running_services(self) -> set[str]:
        pidfiles = {str(self.proj.pidfile(name)): name for name in self.services}
        running = set()
        for pid in marked_pids(MARKER, self.proj.test_id):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue  # exited between the sweep and this read
            running.update(pidfiles[arg] for arg in argv if arg in pidfiles)
        return running

    def data_exists(self) -> bool:
        markers = {name: (self.proj.state_dir / "data" / name / "marker").is_file() for name in self.services}
        # some services' data but not others' is wrong whichever answer was expected
        assert len(set(markers.values())) == 1, f"data kept for only some services: {markers}"
        return all(markers.values())



class TestLocalContract(BackendContract):
    @pytest.fixture
    def harness(self, project, monkeypatch):  # noqa: F811 - pytest fixture injection
        # the backend's supervisor inherits os.environ, and the services inherit it from there:
        # the marker makes every process of this test findable by the sweep and the finalizer
        monkeypatch.setenv(MARKER, project.test_id)
        return LocalHarness(project)
