"""`python -m stagectl.images [--force]`: build the local images of the spec's enabled services.

A stand-in until the CLI has a build command; prints one line per image and the total time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stagectl.config.loader import load_project
from stagectl.errors import StagectlError
from stagectl.images.build import build_images


def _say_building(name: str, what: str) -> None:
    if what == "building":
        print(f"building {name} …", flush=True)


def main(argv: list[str]) -> int:
    try:
        project = load_project(Path.cwd(), allow_example=True)  # only the service list is read
        root, stack = project.root, project.stack
        services = [n for n, s in stack.services.items() if s.enabled]
        result = build_images(services, root, force="--force" in argv, on_progress=_say_building)
    except StagectlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    for image in result.images:
        print(f"{image.action:7} {image.tag:45} {image.image_id[7:19]} {image.seconds:7.2f}s")
    print(f"total {result.total_s:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
