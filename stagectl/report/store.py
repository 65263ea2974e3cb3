"""Reading and writing report.json and its views: atomically, masked, and with failures reported.

A reader must never see half a report, so every file is written to a temporary file in the same
directory and renamed over the target (rename is atomic on POSIX within one filesystem). On any
OSError (ENOSPC, ENOTDIR, EACCES…) the temporary file is removed and a ReportWriteError raised.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stagectl.errors import ExitCode, StagectlError
from stagectl.report.model import Report
from stagectl.secrets import Masker

REPORT_NAME = "report.json"


class ReportWriteError(StagectlError):
    """A report file could not be written; nothing partial was left behind."""

    exit_code = ExitCode.CHECKS_FAILED


class ReportReadError(StagectlError):
    """report.json is missing, not JSON, or not a report this version understands."""

    exit_code = ExitCode.USAGE


def _mask_tree(value: Any, masker: Masker) -> Any:
    if isinstance(value, str):
        return masker(value)
    if isinstance(value, dict):
        return {masker(k): _mask_tree(v, masker) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(v, masker) for v in value]
    return value


def mask_report(report: Report, masker: Masker | None) -> Report:
    """A copy of `report` with every known secret value replaced by ``****`` in every string."""
    if masker is None:
        return report
    return Report.model_validate(_mask_tree(report.model_dump(mode="json"), masker))


def report_json(report: Report) -> str:
    """The canonical JSON text: sorted keys, 2-space indent, trailing newline (stable across runs)."""
    return json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` via temp file + fsync + rename. Raises ReportWriteError on any OSError."""
    path = Path(path)
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise ReportWriteError(
            f"could not write {path}: {exc.strerror or exc}",
            hint="check free space and that the output directory is a writable directory",
        ) from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass  # the directory itself may be gone; there is nothing left to clean
    return path


def write_report(report: Report, path: Path, masker: Masker | None = None) -> Path:
    """Write report.json (masked) atomically; returns the path."""
    return write_atomic(path, report_json(mask_report(report, masker)))


def read_report(path: Path) -> Report:
    """Load and validate a report.json. Raises ReportReadError with the reason."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportReadError(f"cannot read {path}: {exc.strerror or exc}", hint="run `stagectl run` first") from None
    except json.JSONDecodeError as exc:
        raise ReportReadError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    version = raw.get("stagectl_report_version") if isinstance(raw, dict) else None
    if version != 1:
        raise ReportReadError(f"{path}: unsupported stagectl_report_version {version!r} (this stagectl reads 1)")
    try:
        return Report.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReportReadError(f"{path}: invalid report at {where}: {first['msg']}") from None
