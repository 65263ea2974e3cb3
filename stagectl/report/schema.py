"""The JSON schema of report.json, exported from the model and committed at docs/report.schema.json.

Regenerate after changing the model:  python -m stagectl.report.schema > docs/report.schema.json
(a unit test fails while the committed file differs from the model).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from stagectl.report.model import REPORT_VERSION, Report

SCHEMA_PATH = "docs/report.schema.json"


def report_schema() -> dict[str, Any]:
    """The draft 2020-12 JSON schema of a report.json this stagectl writes and reads."""
    schema = Report.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://stagectl.invalid/report.schema.v{REPORT_VERSION}.json"
    schema["title"] = f"stagectl report.json (version {REPORT_VERSION})"
    return schema


def schema_text() -> str:
    """The canonical text of the schema file (sorted keys, so regenerating is byte-stable)."""
    return json.dumps(report_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
