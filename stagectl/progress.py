"""Progress of long phases (chaos scenarios, bench targets): core code says how far it got, the
command that runs it decides how to show it. Core code never prints: it calls `step()`, which does
nothing until a command installs a reporter with `reporting()`.

On a terminal the reporter is a Rich progress bar (done/total, elapsed) on stderr that disappears
when the phase ends; elsewhere (CI logs) it writes one plain line per step.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

Reporter = Callable[[str, int, int, str], None]  # (phase, done, total, what is running now)
_reporter: Reporter | None = None


def step(phase: str, done: int, total: int, label: str = "") -> None:
    """`done` of `total` steps of `phase` are finished; `label` is the one starting now (if any)."""
    if _reporter is not None:
        _reporter(phase, done, total, label)


class PlainReporter:
    """One line per step on stderr, e.g. `chaos: 1/3 done (12.4s), next: redis-down-cache-bypass`."""

    def __init__(self, stream=None, clock: Callable[[], float] = time.monotonic):
        self.stream, self.clock = stream or sys.stderr, clock
        self.started: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int, label: str) -> None:
        from stagectl import context

        if phase not in self.started:
            self.started[phase] = self.clock()
        t0 = self.started[phase]
        tail = f", next: {label}" if label else ""
        self.stream.write(context.mask(f"{phase}: {done}/{total} done ({self.clock() - t0:.1f}s){tail}") + "\n")
        self.stream.flush()


@contextlib.contextmanager
def reporting(*, terminal: bool | None = None) -> Iterator[None]:
    """Install a reporter for the duration of a command: a live bar on a terminal, plain lines otherwise."""
    global _reporter
    previous = _reporter
    is_terminal = sys.stderr.isatty() if terminal is None else terminal
    if not is_terminal:
        _reporter = PlainReporter()
        try:
            yield
        finally:
            _reporter = previous
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bars: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[label]}"), console=Console(stderr=True), transient=True) as bar:
        def live(phase: str, done: int, total: int, label: str) -> None:
            if phase not in bars:
                bars[phase] = bar.add_task(phase, total=total, label=label)
            bar.update(bars[phase], completed=done, total=total, label=label)

        _reporter = live
        try:
            yield
        finally:
            _reporter = previous
