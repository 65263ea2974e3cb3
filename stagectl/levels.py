"""The dashboard's degradation levels, best to worst (docs/contract.md §2): the one definition
chaos expectations, the report model and its charts read."""

from __future__ import annotations

from typing import Literal, get_args

Level = Literal["OPTIMAL", "DEGRADED", "LIMITED", "MINIMAL", "EMERGENCY"]
LEVELS: tuple[Level, ...] = get_args(Level)
