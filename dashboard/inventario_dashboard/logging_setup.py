"""JSON logs, one object per line (docs/contract.md §6), with known secret values masked.

A dozen lines of stdlib ``logging.Formatter`` instead of a dependency: the field set is fixed by
the contract and every record has to pass the secret mask anyway.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from .web import context

_REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "client_ip")


class JsonFormatter(logging.Formatter):
    """``ts, level, logger, msg, request_id, method, route, status, duration_ms, client_ip``."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        # Longest first so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        # Both handlers (stderr and LOG_FILE) share this formatter: format each record once.
        cached = record.__dict__.get("_dashboard_line")
        if cached is not None and cached[0] is self:
            return cached[1]
        line = self._format(record)
        record.__dict__["_dashboard_line"] = (self, line)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        ctx = context.current()
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or ctx.request_id,
        }
        for name in _REQUEST_FIELDS:
            entry[name] = getattr(record, name, None)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)   # no locals, only the stack
        return self.mask(json.dumps(entry, default=str))


class TextFormatter(JsonFormatter):
    """``LOG_FORMAT=text``: the same fields on one human-readable line."""

    def _format(self, record: logging.LogRecord) -> str:
        data = json.loads(super()._format(record))
        head = f'{data.pop("ts")} {data.pop("level")} {data.pop("logger")}: {data.pop("msg")}'
        rest = " ".join(f"{k}={v}" for k, v in data.items() if v is not None and k != "exc")
        return self.mask(f"{head} {rest}" + (f"\n{data['exc']}" if data.get("exc") else ""))


def configure_logging(level: str, fmt: str, secrets: list[str], log_file: str | None) -> None:
    """Route the root, uvicorn and our loggers to stderr (and ``log_file``) in one format; with a
    ``log_file``, stderr gets WARNING and above only."""
    formatter: logging.Formatter = (TextFormatter if fmt.lower() == "text" else JsonFormatter)(secrets)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        # Every line is in LOG_FILE; stderr (which the launcher keeps in a file of its own)
        # carries warnings and errors only. Writing each access line twice was a third of the
        # CPU of a /health answer.
        handlers[0].setLevel(logging.WARNING)
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, "_inventario_dashboard", True)  # noqa: B010 - so a second create_app replaces only ours
    # The stdlib's documented optimisations (logging HOWTO, "Optimization"): the formatter uses
    # neither the caller's file/line nor thread/process names, and looking them up was ~20% of
    # the cost of an access-log line, written once per request.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_inventario_dashboard", False):
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [], True
    # Our middleware writes the access log with the contract's fields; uvicorn's would duplicate it.
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate, access.disabled = [], False, True
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "httpx2", "httpcore", "openai", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
