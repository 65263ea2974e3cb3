"""Which variables are secrets, and masking of their values in any text we emit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_NAME = re.compile(r"(PASSWORD|SECRET|API_KEY|ACCESS_KEY|TOKEN|PRIVATE_KEY)", re.IGNORECASE)
MASK = "****"


def is_secret_name(name: str) -> bool:
    """True when a variable's name says it holds a secret."""
    return bool(SECRET_NAME.search(name))


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The non-empty values of secret variables, longest first (so overlaps mask fully)."""
    values = {v for k, v in env.items() if is_secret_name(k) and v and len(v) >= 4}
    return sorted(values, key=len, reverse=True)


class Masker:
    """Replaces every known secret value in a string with ``****``."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Masker:
        return cls(secret_values(env))

    def add(self, *values: str) -> None:
        self._secrets = sorted({*self._secrets, *(v for v in values if v)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def tree(self, value: Any) -> Any:
        """`value` with every string inside it (dict values and keys, list items) masked."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.tree(k): self.tree(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.tree(v) for v in value]
        return value
