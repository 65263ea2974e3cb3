"""Built-in static checks of `stagectl validate`: importing this package registers them all.

One module per section, imported in the order sections are shown; `_`-modules are helpers.
"""

import importlib

SECTION_MODULES = (
    "files", "compose", "healthchecks", "ports", "volumes", "network", "env", "breakers",
    "degradation", "prometheus", "alerts", "grafana", "s3", "security", "deadvars", "system",
    "kubernetes",
)

for _name in SECTION_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
