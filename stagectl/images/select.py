"""Which images the compose backend runs: upstream ones, or the ones built here.

Upstream images stay the default wherever they can be had. `auto` picks the local builds only when
an upstream image the stack needs is neither in the engine nor pullable (its registry's name does
not resolve), which is the case on machines without a registry. `STAGECTL_COMPOSE_IMAGES=local`
or `=upstream` forces the choice.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Iterable, Mapping

from stagectl.errors import ConfigError
from stagectl.images.catalog import images_for_services

MODE_VAR = "STAGECTL_COMPOSE_IMAGES"
LOCAL_IMAGES_FILE = "docker-compose.local-images.yml"
BUILD_COMMAND = "stagectl build"
DEFAULT_REGISTRY = "registry-1.docker.io"


@dataclasses.dataclass(frozen=True)
class ImageChoice:
    mode: str  # "local" | "upstream"
    why: str
    skipped: dict[str, str]  # service → why it cannot run with these images
    tags: dict[str, str]  # service → image tag (local mode only)


def registry_resolves(host: str = DEFAULT_REGISTRY) -> bool:
    """True when the registry's name resolves (the cheap sign that a pull could work)."""
    try:
        socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return True


def choose_images(
    upstream: Mapping[str, str],
    enabled: Iterable[str],
    *,
    environ: Mapping[str, str] = os.environ,
    image_exists: Callable[[str], bool],
    resolves: Callable[[], bool] = registry_resolves,
) -> ImageChoice:
    """`upstream`: service → its upstream image (services built from a context are left out);
    `enabled`: every service that runs."""
    mode = environ.get(MODE_VAR, "auto")
    if mode not in ("auto", "local", "upstream"):
        raise ConfigError(f"{MODE_VAR}={mode!r}: use auto, local or upstream")
    if mode == "auto":
        absent = [image for image in upstream.values() if not image_exists(image)]
        if not absent:
            mode, why = "upstream", "every upstream image is in the engine"
        elif resolves():
            mode, why = "upstream", "the registry answers (missing images will be pulled)"
        else:
            mode, why = "local", f"{len(absent)} upstream image(s) absent and no registry resolves"
    else:
        why = f"{MODE_VAR}={mode}"
    if mode == "upstream":
        return ImageChoice("upstream", why, {}, {})
    enabled = list(enabled)
    tags = {svc: spec.tag for svc, spec in images_for_services(enabled).items()}
    skipped = {svc: "no local image (no Debian package to build it from)" for svc in enabled if svc not in tags}
    return ImageChoice("local", why, skipped, tags)
