"""The fuzz loop: schemathesis generates cases from the dashboard's OpenAPI document, hypothesis
drives them, `client.send` sends and judges each one.

schemathesis (not hand-written hypothesis strategies): it derives valid *and* invalid inputs
(GenerationMode.NEGATIVE: wrong types, out-of-range numbers, bad patterns) for every parameter and
body of every operation from the schema alone, so a new route is fuzzed without code here. Its own
runner is not used: it sends through `requests` without a way to pick the source address per
request and would read a Server-Sent Events stream to its end; hypothesis runs the cases and the
requests go through `client.send`.

Bounded twice: at most `max_examples` cases per operation and generation mode, and `time_limit_s`
overall, shared out evenly over what is left (an operation never eats the next one's time).
Failures are collected, not raised, so hypothesis neither stops nor shrinks: each one is recorded
with the exact request that caused it.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any

import requests

from stagectl.fuzz.client import curl_command, send


@dataclasses.dataclass
class Failure:
    method: str
    path: str  # the route template
    url: str
    problems: list[str]
    status: int | None
    query: dict | None
    body: Any
    curl: str
    mode: str


@dataclasses.dataclass
class Engine:
    base_url: str
    api_key: str
    hsts: bool
    max_examples: int
    time_limit_s: float
    seed: int
    request_timeout_s: float = 10.0
    tried: Counter = dataclasses.field(default_factory=Counter)  # "METHOD /template" → requests
    tried_by_mode: Counter = dataclasses.field(default_factory=Counter)  # ("METHOD /template", mode) → requests
    statuses: Counter = dataclasses.field(default_factory=Counter)
    failures: list[Failure] = dataclasses.field(default_factory=list)
    created: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (kind, id) to remove after
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    def run(self, document: dict) -> None:
        import schemathesis
        from schemathesis.core.result import Ok
        from schemathesis.generation import GenerationMode

        schema = schemathesis.openapi.from_dict(document)
        operations = []
        for result in schema.get_all_operations():
            if isinstance(result, Ok):
                operations.append(result.ok())
            else:  # an operation schemathesis cannot read: said, never silently dropped
                self.skipped[str(result.err())[:80]] = "schemathesis could not read this operation"
        plan = [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        deadline = time.monotonic() + self.time_limit_s
        for index, (op, mode) in enumerate(plan):
            left = deadline - time.monotonic()
            if left <= 0:
                self.skipped[f"{op.method.upper()} {op.path} ({mode.value})"] = "time limit reached"
                continue
            self._fuzz(op, mode, time.monotonic() + left / (len(plan) - index))

    def _fuzz(self, op: Any, mode: Any, until: float) -> None:
        from hypothesis import HealthCheck, Phase, given, seed, settings
        from hypothesis.errors import Unsatisfiable

        name = f"{op.method.upper()} {op.path}"
        try:
            strategy = op.as_strategy(generation_mode=mode)
        except Exception as exc:
            self.skipped[f"{name} ({mode.value})"] = f"no cases: {type(exc).__name__}"
            return

        @seed(self.seed)
        @settings(max_examples=self.max_examples, deadline=None, database=None, derandomize=False,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def one(case: Any) -> None:
            if time.monotonic() < until:
                self._try(name, case, mode.value)

        try:
            one()
        except Unsatisfiable:  # e.g. no invalid value exists for an operation without parameters
            if not self.tried_by_mode[name, mode.value]:
                self.skipped[f"{name} ({mode.value})"] = "no case can be generated in this mode"
        except Exception as exc:  # generation failed: said, and the other operations still run
            self.skipped[f"{name} ({mode.value})"] = f"generation stopped: {type(exc).__name__}: {str(exc)[:160]}"

    def _try(self, name: str, case: Any, mode: str) -> None:
        kwargs = case.as_transport_kwargs(base_url=self.base_url, headers={"X-API-Key": self.api_key})
        kwargs.pop("cookies", None)
        prepared = requests.Request(**kwargs).prepare()
        answer = send(prepared, hsts=self.hsts, timeout_s=self.request_timeout_s)
        self.tried[name] += 1
        self.tried_by_mode[name, mode] += 1
        self.statuses[str(answer.status or answer.error)] += 1
        if answer.problems:
            self.failures.append(Failure(
                method=case.method.upper(), path=case.operation.path, url=prepared.url or "", problems=answer.problems,
                status=answer.status, query=case.query or None, body=_plain(case.body), curl=curl_command(prepared),
                mode=mode))
        elif answer.status == 201 and case.method.upper() == "POST":
            self._remember(case)

    def _remember(self, case: Any) -> None:
        """What a successful POST created, to be removed after the run (so later phases see the
        stack as it was)."""
        body = case.body if isinstance(case.body, dict) else {}
        if case.operation.path == "/api/inventory" and isinstance(body.get("sku"), str):
            self.created.append(("inventory", body["sku"]))


def _plain(body: Any) -> Any:
    """The generated body as JSON-able data (schemathesis' NotSet → None, bytes → text)."""
    if body is None or type(body).__name__ == "NotSet":
        return None
    if isinstance(body, bytes):
        return body.decode("utf-8", "backslashreplace")
    return body
