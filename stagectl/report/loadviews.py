"""Markdown of the fuzz and soak phases' measurements (the HTML template renders the same fields)."""

from __future__ import annotations

from collections.abc import Callable

from stagectl.report.model import FuzzPhase, SoakPhase

Table = Callable[[tuple[str, ...], list[tuple[object, ...]]], list[str]]


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def fuzz_markdown(f: FuzzPhase, table: Table) -> list[str]:
    out = [f"Fuzz, measured by `{f.command}` ({f.tool}): {f.requests} requests over {len(f.per_route)} operations "
           f"in {_num(f.duration_s)} s, {len(f.failures)} failures, level afterwards {f.level_after or '–'}.", ""]
    out += table(("operation", "requests"), [(op, n) for op, n in f.per_route.items()])
    out += ["", "Answers: " + ", ".join(f"{k}×{v}" for k, v in f.statuses.items()), ""]
    for failure in f.failures[:20]:
        out += [f"- `{failure.method} {failure.path}` ({failure.mode}): {'; '.join(failure.problems)}",
                "", "  ```sh", f"  {failure.curl}", "  ```", ""]
    return out


def soak_markdown(s: SoakPhase, table: Table) -> list[str]:
    out = [f"Soak, measured by `{s.command}`: {s.requests} requests at {_num(s.achieved_rps)}/s "
           f"(asked {s.rate_rps:g}/s), {s.errors} errors; {s.stability_rule}.", ""]
    out += table(("window from", "n", "errors", "p50 ms", "p99 ms"),
                 [(f"{w.t_s:g} s", w.n, w.errors, _num(w.p50_ms), _num(w.p99_ms)) for w in s.windows])
    if s.rss_start_mb is not None:
        out += ["", f"Dashboard RSS {s.rss_start_mb} → {s.rss_end_mb} MB, open file descriptors {s.fds_start} → {s.fds_end}."]
    else:
        out += ["", f"Dashboard RSS and descriptors not measured: {s.resources_note}."]
    return [*out, ""]
