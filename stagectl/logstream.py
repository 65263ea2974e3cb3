"""Log lines of several services, interleaved by time — the shared core of `stagectl logs`.

Local services write plain files without a common format, so each line's time is read from the
line where it carries one (ISO dates: PostgreSQL, Prometheus, the dashboard's JSON log; Redis's
`04 Dec 2026 23:17:01.123`); a line without one inherits the time of the line before it. Lines
before the first dated line of a file have no known time: `since` leaves them out.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from stagectl.backends.base import LogLine

_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(Z|UTC|[+-]\d{2}:?\d{2})?")
_REDIS = re.compile(r"(\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?)")


def line_time(text: str) -> float | None:
    """Epoch seconds of the first timestamp in `text`, or None."""
    found = _ISO.search(text)
    if found:
        zone = found[3] or ""
        stamp = f"{found[1]}T{found[2][:15]}"
        try:
            when = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if zone in ("Z", "UTC"):
            when = when.replace(tzinfo=dt.timezone.utc)
        elif zone:
            when = dt.datetime.fromisoformat(stamp + (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"))
        return when.timestamp()
    found = _REDIS.search(text)
    if found:
        try:
            return dt.datetime.strptime(found[1].split(".")[0], "%d %b %Y %H:%M:%S").timestamp()
        except ValueError:
            return None
    return None


def parse_since(value: str, now: float | None = None) -> float:
    """`--since`: a duration (`90s`, `10m`, `2h`, `1d`) back from now, or an ISO date/time."""
    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", value.strip())
    if match:
        return now - float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {value!r}: expected a duration like 10m / 2h or an ISO time like 2026-01-31T12:00") from None
    return when.timestamp()


def dated_lines(service: str, lines: Sequence[str]) -> list[LogLine]:
    out, last = [], None
    for text in lines:
        last = line_time(text) or last
        out.append(LogLine(service, text, last))
    return out


def read_file_lines(service: str, path: Path, *, tail: int | None, since: float | None) -> list[LogLine]:
    if not path.is_file():
        return []
    lines = dated_lines(service, path.read_text(encoding="utf-8", errors="replace").splitlines())
    if since is not None:
        lines = [ln for ln in lines if ln.at is not None and ln.at >= since]
    return lines[-tail:] if tail else lines


def interleave(per_service: Sequence[list[LogLine]]) -> Iterator[LogLine]:
    """Merge each service's (time-ordered) lines by time; undated lines sort first, stably."""
    return heapq.merge(*per_service, key=lambda ln: ln.at if ln.at is not None else float("-inf"))


def follow_files(paths: dict[str, Path], *, keep_going: Callable[[], bool], interval: float = 0.2) -> Iterator[LogLine]:
    """New whole lines appended to the files, as they come, until `keep_going()` is false."""
    positions = {name: (p.stat().st_size if p.exists() else 0) for name, p in paths.items()}
    rests = {name: b"" for name in paths}
    while keep_going():
        for name, path in paths.items():
            size = path.stat().st_size if path.exists() else 0
            if size < positions[name]:  # copy-truncated by the supervisor's size limit
                positions[name], rests[name] = 0, b""
            if size > positions[name]:
                with open(path, "rb") as fh:
                    fh.seek(positions[name])
                    chunk = rests[name] + fh.read(size - positions[name])
                positions[name] = size
                *complete, rests[name] = chunk.split(b"\n")  # whole lines only: masking sees whole secrets
                for raw in complete:
                    text = raw.decode("utf-8", "replace")
                    yield LogLine(name, text, line_time(text) or time.time())
        time.sleep(interval)
