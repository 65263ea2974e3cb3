"""The API a static check is written against — the one import of every `checks/static/*.py`:

    from stagectl.checking import CheckContext, check, failed, passed, skipped, verdict

It names, and does not define: the registry lives in `stagectl.validate.registry`, the context in
`stagectl.validate.context`, the inputs in `stagectl.validate.inputs` (docs/architecture.md,
"Adding a check").
"""

from __future__ import annotations

from stagectl.validate.context import CheckContext
from stagectl.validate.inputs import (
    ALERT_RULES,
    ALERT_TESTS,
    COMPOSE_ENV,
    COMPOSE_FILE,
    DASHBOARD_PACKAGE,
    GRAFANA_DASHBOARD_PROVIDERS,
    GRAFANA_DATASOURCES,
    PROMETHEUS_CONFIG,
    S3_INIT,
    EnvDoc,
    EnvEntry,
    MissingInput,
    YamlDoc,
    parse_env,
)
from stagectl.validate.registry import check, failed, passed, skipped, verdict

__all__ = [
    "ALERT_RULES", "ALERT_TESTS", "COMPOSE_ENV", "COMPOSE_FILE", "DASHBOARD_PACKAGE", "GRAFANA_DASHBOARD_PROVIDERS",
    "GRAFANA_DATASOURCES", "PROMETHEUS_CONFIG", "S3_INIT", "CheckContext", "EnvDoc", "EnvEntry", "MissingInput",
    "YamlDoc", "check", "parse_env", "failed", "passed", "skipped", "verdict",
]
