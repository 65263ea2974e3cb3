"""Exit codes and the one error type the CLI's error boundary turns into a red line + hint."""

from __future__ import annotations

import enum
import signal


class ExitCode(enum.IntEnum):
    """The exit-code contract (docs/exit-codes.md). Signals exit as 128 + N."""

    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2
    UNHEALTHY = 3
    PREFLIGHT = 4
    TEARDOWN = 5


class StagectlError(Exception):
    """An expected failure: a message for the user, a hint, and the exit code it maps to.

    Core code raises this (or a subclass) and never prints or exits; the CLI boundary renders it.
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(StagectlError):
    """Invalid stack spec or env file; the message carries file:line and key path."""

    exit_code = ExitCode.USAGE


class PreflightError(StagectlError):
    """The environment cannot run the stack: missing binary, busy port, no engine."""

    exit_code = ExitCode.PREFLIGHT


class UnhealthyError(StagectlError):
    """The stack did not become healthy; the message names the root-cause service."""

    exit_code = ExitCode.UNHEALTHY


class TeardownError(StagectlError):
    """Something `up` started could not be stopped."""

    exit_code = ExitCode.TEARDOWN


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when stagectl receives a terminating signal (exit 128 + signum).

    The one interrupt type of stagectl: the CLI's signal handler and the pipeline's both raise it.
    A KeyboardInterrupt subclass, so code that handles Ctrl-C (a fault's restore, the backend's
    cleanup of a half-started stack) treats SIGTERM the same way, and `except Exception` cannot
    swallow it. `forced` marks the second signal (kill without grace).
    """

    def __init__(self, signum: int, forced: bool = False):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.forced = forced
