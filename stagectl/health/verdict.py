"""What a failed wait tells the user, whichever backend waited: the root-cause service, why it
failed (crash, unhealthy, start failure, or the deadline) and its last log lines.

The wait engine's outcome becomes a plain record first (`failure_record`): the local backend's
supervisor stores it in the state file for the CLI; the compose backend uses it at once. Both turn
it into the same exit-3 error with `unhealthy_error`.
"""

from __future__ import annotations

from collections.abc import Callable

from stagectl.errors import StagectlError, UnhealthyError
from stagectl.health.wait import WaitOutcome

LOG_TAIL = 20  # log lines of the root cause in the error


def failure_record(outcome: WaitOutcome, log_tail: Callable[[str], list[str]]) -> dict:
    """The failed `outcome` as a JSON-able record; `log_tail(name)` gives a service's last lines."""
    pending = {n: p.last_probe or ("not started: dependencies not healthy yet" if p.phase == "pending" else p.phase)
               for n, p in outcome.services.items()
               if p.phase in ("pending", "starting", "waiting")}
    error: dict = {"reason": outcome.reason, "root_cause": outcome.root_cause, "pending": pending,
                   "elapsed": round(outcome.elapsed, 3)}
    if outcome.root_cause:
        error["detail"] = outcome.services[outcome.root_cause].detail
        error["log_tail"] = log_tail(outcome.root_cause)
    return error


def unhealthy_error(error: dict, *, full_log: Callable[[str | None], str]) -> StagectlError:
    """The error for a failure record: exit 3 naming the root cause with its last log lines (130
    when the wait was interrupted). `full_log(root)` says where the whole log is (the hint)."""
    reason, root = error.get("reason"), error.get("root_cause")
    if reason == "timeout":
        pending = "\n".join(f"  {n}: last probe: {p}" for n, p in sorted(error.get("pending", {}).items()))
        blame = ""
        if root:
            lines = "\n".join(f"    {line}" for line in error.get("log_tail", []))
            blame = f"\n  {root} holds the others up; its last log lines:\n{lines}"
        return UnhealthyError(f"not healthy after {error.get('elapsed')}s (--wait-timeout); still pending:\n{pending}{blame}",
                              hint=f"`stagectl logs {root or '<service>'}`, or raise --wait-timeout")
    if reason == "interrupted":
        return StagectlError("interrupted", exit_code=130)  # type: ignore[arg-type]  # 128 + SIGINT, outside ExitCode
    lines = "\n".join(f"    {line}" for line in error.get("log_tail", [])) or "    (its log is empty)"
    message = f"{root}: {error.get('detail', reason)}"
    return UnhealthyError(f"{message}; everything started was torn down\n  last log lines of {root}:\n{lines}",
                          hint=full_log(root))
