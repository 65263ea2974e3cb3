"""Write a RenderResult atomically, and compare a render dir with a fresh render."""

from __future__ import annotations

import dataclasses
import difflib
import os
import shutil
import tempfile
from pathlib import Path

from stagectl.errors import StagectlError
from stagectl.render.engine import RenderResult


@dataclasses.dataclass(frozen=True)
class Diff:
    """One difference between the render dir and a fresh render.

    kind: "changed" (content or mode differs), "missing" (rendered but not on disk) or
    "extra" (on disk but no template produces it). `diff` is a unified diff (disk → render).
    """

    path: str
    kind: str
    diff: str = ""


def _on_disk(out_dir: Path) -> dict[str, Path]:
    if not out_dir.is_dir():
        return {}
    return {p.relative_to(out_dir).as_posix(): p for p in sorted(out_dir.rglob("*")) if p.is_file()}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "<binary file>\n"


def compare(result: RenderResult, out_dir: Path) -> list[Diff]:
    """Differences between `out_dir` and `result`, sorted by path."""
    disk = _on_disk(out_dir)
    diffs: list[Diff] = []
    for path in sorted(set(disk) | set(result.files)):
        label_old, label_new = f"{out_dir.name}/{path} (on disk)", f"{out_dir.name}/{path} (rendered)"
        if path not in disk:
            new = result.files[path].content
            text = "".join(difflib.unified_diff([], new.splitlines(True), label_old, label_new))
            diffs.append(Diff(path, "missing", text))
        elif path not in result.files:
            old = _read(disk[path])
            text = "".join(difflib.unified_diff(old.splitlines(True), [], label_old, label_new))
            diffs.append(Diff(path, "extra", text))
        else:
            old, new = _read(disk[path]), result.files[path].content
            mode_differs = (disk[path].stat().st_mode & 0o111 != 0) != (result.files[path].mode & 0o111 != 0)
            if old != new or mode_differs:
                text = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), label_old, label_new))
                if mode_differs:
                    text += f"mode: executable bit should be {'set' if result.files[path].mode & 0o111 else 'clear'}\n"
                diffs.append(Diff(path, "changed", text))
    return diffs


def write(result: RenderResult, out_dir: Path) -> None:
    """Replace `out_dir` with exactly the rendered files.

    Files go into a temp dir beside `out_dir` (same filesystem, so renames are atomic); then the
    old dir is renamed aside and the new one into place. If anything fails before the swap, the
    old dir is untouched and the temp dir is removed; if the second rename fails, the old dir is
    put back. (POSIX has no portable atomic directory exchange, hence the two renames.)
    """
    out_dir = out_dir.resolve()
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=parent))
    aside = parent / f".{out_dir.name}.old-{os.getpid()}"
    try:
        for rendered in result.files.values():
            target = staging / rendered.path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="") as handle:
                handle.write(rendered.content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(target, rendered.mode)
        os.chmod(staging, 0o755)
        if out_dir.exists():
            os.rename(out_dir, aside)
            try:
                os.rename(staging, out_dir)
            except OSError:
                os.rename(aside, out_dir)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(staging, out_dir)
    except OSError as exc:
        raise StagectlError(f"could not write {out_dir}: {exc.strerror or exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
