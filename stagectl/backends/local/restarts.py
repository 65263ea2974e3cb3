"""The spec's `restart:` policy for local services: when the supervisor restarts a service that
exited, how long it waits first (exponential back-off), and when it gives up (crash loop).

Docker's meanings: `no` never; `on-failure` only after a non-zero exit (a signal is a failure);
`always` and `unless-stopped` after any exit. A service stopped on purpose — `stagectl stop`, or a
chaos fault through `Backend.signal` — is *held* and never restarted by the policy (locally the
two `always` kinds behave alike: the supervisor does not outlive `down`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque

BACKOFF_VAR = "STAGECTL_RESTART_BACKOFF"  # first delay in seconds (tests shorten it)
DEFAULT_BACKOFF_S = 1.0
MAX_DELAY_S = 30.0
WINDOW_S = 120.0  # restarts counted for the crash-loop verdict
MAX_RESTARTS = 5  # this many restarts within WINDOW_S, then one more exit: crash loop
STABLE_S = 60.0  # up this long: the back-off starts over


@dataclasses.dataclass(frozen=True)
class Decision:
    """`action`: "restart" after `delay` seconds, "leave" (policy says no) or "crash-loop"."""

    action: str
    delay: float = 0.0
    reason: str = ""


@dataclasses.dataclass
class RestartPolicy:
    mode: str
    backoff: float = dataclasses.field(default_factory=lambda: float(os.environ.get(BACKOFF_VAR) or DEFAULT_BACKOFF_S))
    restarts: deque = dataclasses.field(default_factory=deque)  # monotonic times of recent restarts
    total: int = 0

    def decide(self, returncode: int, *, up_for: float, now: float | None = None) -> Decision:
        """What to do about an exit with `returncode` after the service ran `up_for` seconds."""
        now = time.monotonic() if now is None else now
        if self.mode == "no":
            return Decision("leave", reason="restart: no")
        if self.mode == "on-failure" and returncode == 0:
            return Decision("leave", reason="exited 0 (restart: on-failure)")
        if up_for >= STABLE_S:
            self.restarts.clear()
        while self.restarts and now - self.restarts[0] > WINDOW_S:
            self.restarts.popleft()
        if len(self.restarts) >= MAX_RESTARTS:
            return Decision("crash-loop", reason=f"crash loop: {len(self.restarts) + 1} exits within "
                                                 f"{WINDOW_S:.0f}s; not restarting (`stagectl restart` tries again)")
        delay = min(self.backoff * (2 ** len(self.restarts)), MAX_DELAY_S)
        return Decision("restart", delay=delay, reason=f"restart {self.total + 1} in {delay:.1f}s")

    def record(self, now: float | None = None) -> None:
        self.restarts.append(time.monotonic() if now is None else now)
        self.total += 1

    def reset(self) -> None:
        """A manual (re)start: the verdict and back-off start over."""
        self.restarts.clear()
