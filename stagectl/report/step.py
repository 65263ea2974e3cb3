"""The `report` step of `stagectl run`: build report.json from the pipeline's records, write it and
its views. Used as `Step("report", ReportStep(...), kind="final")`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stagectl.report.build import report_from_pipeline
from stagectl.report.model import Report
from stagectl.report.render import FORMATS, render_views
from stagectl.report.store import REPORT_NAME, write_report
from stagectl.secrets import Masker


@dataclasses.dataclass(frozen=True)
class ReportWritten:
    """The step's result: where the report went. `status` is what the pipeline reads."""

    report: Report
    paths: list[Path]
    status: str = "passed"
    reason: str | None = None


@dataclasses.dataclass
class ReportStep:
    """Callable step: writes <out_dir>/report.json and the views (masked). A write failure raises
    ReportWriteError (exit 1), so a run whose evidence was not recorded never exits 0."""

    out_dir: Path
    run_id: str
    project: str
    backend: str
    masker: Masker | None = None
    service_versions: Callable[[], Mapping[str, str]] | Mapping[str, str] = dataclasses.field(default_factory=dict)
    config_overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)
    formats: Sequence[str] = FORMATS
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)

    def __call__(self, ctx: Any) -> ReportWritten:
        versions = self.service_versions() if callable(self.service_versions) else self.service_versions
        report = report_from_pipeline(
            ctx.records, run_id=self.run_id, project=self.project, backend=self.backend,
            started_at=ctx.started_at, finished_at=self.now(), exit_code=ctx.exit_code, outcome=ctx.outcome,
            service_versions=versions, config_overrides=self.config_overrides,
        )
        paths = [write_report(report, self.out_dir / REPORT_NAME, self.masker)]
        paths += render_views(report, self.out_dir, self.formats, self.masker)
        return ReportWritten(report, paths)
