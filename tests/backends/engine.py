"""The marks of a module that needs the real Docker engine (and maybe a locally built image):
`docker`, plus a skip naming what is missing. Imported by the real-engine test modules."""

from __future__ import annotations

import subprocess

import pytest

from stagectl.backends.compose import engine_answers


def engine_marks(image: str | None = None, *extra: pytest.MarkDecorator) -> list[pytest.MarkDecorator]:
    """[docker, *extra], and a skip when no engine answers or `image` is absent (the reason says which)."""
    reason = engine_answers()
    if reason is None and image and subprocess.run(["docker", "image", "inspect", image],
                                                   capture_output=True).returncode != 0:
        reason = f"image {image} absent (run `stagectl build`)"
    marks = [pytest.mark.docker, *extra]
    return marks if reason is None else [*marks, pytest.mark.skip(reason=f"no Docker engine: {reason}")]
