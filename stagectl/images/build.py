"""Build the local images the spec needs; skip each one whose inputs have not changed.

An image's inputs are its build-context files, its Dockerfile, build arguments, wheel
requirements and its parent's image id; their hash is stored as a label on the image. A second
build with nothing changed therefore only inspects the images (a cache hit in about a second).
Wheels are built on the host (`pip wheel`, with the host's package indexes) and copied into the
build context, because a build here cannot reach those indexes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from python_on_whales import DockerClient, DockerException
from python_on_whales.client_config import ClientNotFoundError

from stagectl.errors import PreflightError
from stagectl.images.catalog import ImageSpec, images_for_services, with_parents

HASH_LABEL = "org.stagectl.input-hash"
NAME_LABEL = "org.stagectl.image"


@dataclasses.dataclass(frozen=True)
class ImageOutcome:
    name: str
    tag: str
    image_id: str
    action: str  # "built" | "cached"
    seconds: float


@dataclasses.dataclass(frozen=True)
class BuildResult:
    images: list[ImageOutcome]
    total_s: float

    @property
    def built(self) -> list[str]:
        return [i.name for i in self.images if i.action == "built"]


def _files(root: Path, spec: ImageSpec) -> list[Path]:
    base = root / spec.context
    out: list[Path] = []
    for entry in spec.context_files:
        path = base / entry
        if path.is_dir():
            out += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        elif path.is_file():
            out.append(path)
        else:
            raise PreflightError(f"image {spec.name}: {path} is missing from its build context")
    return sorted(out)


def input_hash(root: Path, spec: ImageSpec, parent_id: str | None) -> str:
    """The hash of everything the image is made from (not of the wheels: they follow the requirements)."""
    digest = hashlib.sha256()
    for part in (spec.tag, spec.dockerfile, repr(spec.build_args), repr(spec.wheels), parent_id or ""):
        digest.update(part.encode() + b"\0")
    base = root / spec.context
    for path in _files(root, spec):
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


class _Engine:
    """The few docker calls the builder makes; 'no engine' becomes a PreflightError."""

    def __init__(self, client_call: Sequence[str]):
        self.docker = DockerClient(client_call=list(client_call))

    def labels_and_id(self, tag: str) -> tuple[dict[str, str], str] | None:
        try:
            if not self.docker.image.exists(tag):
                return None
            image = self.docker.image.inspect(tag)
        except (DockerException, ClientNotFoundError) as exc:
            raise _unavailable(exc) from None
        return dict(image.config.labels or {}), image.id

    def build(self, context: Path, tag: str, build_args: dict[str, str], labels: dict[str, str]) -> None:
        try:
            self.docker.legacy_build(context, tags=[tag], build_args=build_args, labels=labels, quiet=True)
        except DockerException as exc:
            self._remove_failed_build_containers()
            tail = "\n".join((exc.stderr or exc.stdout or "").strip().splitlines()[-20:])
            raise PreflightError(f"building image {tag} failed:\n{tail}", hint=f"fix {context.name}'s Dockerfile and build again") from None


    def _remove_failed_build_containers(self) -> None:
        """The legacy builder keeps the container of a failed RUN step; it carries our images'
        labels (inherited from the parent) and no compose project, unlike the stack's containers."""
        try:
            self.docker.container.prune(filters={"label": NAME_LABEL, "label!": "com.docker.compose.project"})
        except DockerException:
            pass  # best effort: the build error is what the user needs to see


def _unavailable(exc: BaseException) -> PreflightError:
    from stagectl.backends.compose import unavailable

    return unavailable(exc) or PreflightError(f"docker failed: {getattr(exc, 'stderr', '') or exc}")


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise PreflightError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _stage_context(root: Path, work: Path, spec: ImageSpec) -> Path:
    """A fresh copy of the image's context files plus `wheels/` (built on the host when needed)."""
    context = work / "context" / spec.name
    shutil.rmtree(context, ignore_errors=True)
    base = root / spec.context
    for path in _files(root, spec):
        target = context / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    wheels = context / "wheels"
    wheels.mkdir(exist_ok=True)
    if spec.wheels:
        cache = work / "wheels" / spec.name  # kept between builds: pip reuses what is there
        cache.mkdir(parents=True, exist_ok=True)
        reqs = [str(root / r) if r.startswith("./") else r for r in spec.wheels]
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(cache), *reqs], f"pip wheel for {spec.name}")
        for wheel in cache.glob("*.whl"):
            shutil.copy2(wheel, wheels / wheel.name)
    return context


def build_images(
    services: Iterable[str],
    root: Path,
    *,
    work_dir: Path | None = None,
    force: bool = False,
    client_call: Sequence[str] = ("docker",),
    on_progress: Callable[[str, str], None] | None = None,
) -> BuildResult:
    """Build (parents first) every local image that runs one of `services`, unless its tag already
    carries the same input hash. `on_progress(image, "building" | "built" | "cached")` reports."""
    started = time.monotonic()
    work = work_dir or root / ".stagectl" / "images"
    engine = _Engine(client_call)
    ids: dict[str, str] = {}
    outcomes: list[ImageOutcome] = []
    for spec in with_parents({s.name for s in images_for_services(services).values()}):
        t0 = time.monotonic()
        wanted = input_hash(root, spec, ids.get(spec.parent) if spec.parent else None)
        found = engine.labels_and_id(spec.tag)
        if found and found[0].get(HASH_LABEL) == wanted and not force:
            action = "cached"
        else:
            action = "built"
            if on_progress:
                on_progress(spec.name, "building")
            labels = {HASH_LABEL: wanted, NAME_LABEL: spec.name}
            if spec.rootfs_script:
                script = root / spec.context / spec.rootfs_script
                _run(["bash", str(script), spec.tag, *(f"{k}={v}" for k, v in labels.items())], f"making the {spec.name} base image")
            else:
                args = dict(spec.build_args)
                if spec.parent:
                    args["BASE_IMAGE"] = next(o.tag for o in outcomes if o.name == spec.parent)
                engine.build(_stage_context(root, work, spec), spec.tag, args, labels)
            found = engine.labels_and_id(spec.tag)
            if found is None or found[0].get(HASH_LABEL) != wanted:
                raise PreflightError(f"image {spec.tag} is missing or stale right after its build")
        ids[spec.name] = found[1]
        outcomes.append(ImageOutcome(spec.name, spec.tag, found[1], action, round(time.monotonic() - t0, 2)))
        if on_progress:
            on_progress(spec.name, action)
    return BuildResult(images=outcomes, total_s=round(time.monotonic() - started, 2))


def missing_images(services: Iterable[str], *, client_call: Sequence[str] = ("docker",)) -> list[str]:
    """The local image tags that `services` need and the engine does not have (no hash check)."""
    engine = _Engine(client_call)
    tags = sorted({spec.tag for spec in images_for_services(services).values()})
    return [tag for tag in tags if engine.labels_and_id(tag) is None]
