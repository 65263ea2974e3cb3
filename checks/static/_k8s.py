"""Helpers of the `kubernetes` section: the rendered manifests parsed once per context (with the
line each document starts on), pod templates, label selection, strict schema validation."""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from stagectl.checking import CheckContext, MissingInput

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
KUSTOMIZATION = "Kustomization"
SECRETS_ENV = "overlays/staging/secrets.env"


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One YAML document of the layout: where it is and what it says."""

    rel: str  # path relative to the project root
    line: int
    data: dict

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.data.get("metadata") or {}).get("name", ""))

    @property
    def loc(self) -> str:
        return f"{self.rel}:{self.line}"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


_loaded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def secret_names(ctx: CheckContext) -> list[str]:
    """The SECRET variables of the example env (the keys the generated Secret has)."""
    from stagectl.secrets import is_secret_name

    try:
        return sorted(e.name for e in ctx.env_example.entries if is_secret_name(e.name))
    except MissingInput:
        return []


def k8s_dir(ctx: CheckContext) -> Path:
    return ctx.root / ctx.stack.kubernetes.render_dir


def manifests(ctx: CheckContext) -> list[Manifest]:
    """Every document of every .yaml/.yml file under the layout (MissingInput when absent)."""
    if ctx not in _loaded:
        _loaded[ctx] = _load(ctx)
        if not isinstance(_loaded[ctx], MissingInput):
            start_kustomize(ctx, secret_names(ctx))  # overlaps the tool with the other checks
    value = _loaded[ctx]
    if isinstance(value, MissingInput):
        raise value
    return value


def _load(ctx: CheckContext) -> list[Manifest] | MissingInput:
    folder = k8s_dir(ctx)
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []
    if not files:
        return MissingInput(f"no manifests under {ctx.rel(folder)} (run `stagectl render --target kubernetes`)")
    out: list[Manifest] = []
    for path in files:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(path.read_text(encoding="utf-8"))
        try:
            while loader.check_node():
                node = loader.get_node()
                data = loader.construct_document(node)
                if data is not None:
                    if not isinstance(data, dict):
                        return MissingInput(f"{ctx.rel(path)}:{node.start_mark.line + 1}: a document that is not a mapping")
                    out.append(Manifest(ctx.rel(path), node.start_mark.line + 1, data))
        except yaml.YAMLError as exc:
            return MissingInput(f"{ctx.rel(path)} is not valid YAML ({str(exc).splitlines()[0]})")
        finally:
            loader.dispose()
    return out


def resources(ctx: CheckContext) -> list[Manifest]:
    """The Kubernetes objects (kustomization files left out)."""
    return [m for m in manifests(ctx) if m.kind != KUSTOMIZATION]


def pod_template(m: Manifest) -> dict | None:
    if m.kind not in WORKLOADS:
        return None
    return ((m.data.get("spec") or {}).get("template") or {})


def pod_labels(m: Manifest) -> dict[str, str]:
    return dict(((pod_template(m) or {}).get("metadata") or {}).get("labels") or {})


def containers(m: Manifest) -> Iterator[dict]:
    spec = (pod_template(m) or {}).get("spec") or {}
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def selects(selector: dict | None, labels: dict[str, str]) -> bool:
    """Label-selector semantics for matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


@functools.lru_cache(maxsize=4)
def _validators(version: str) -> tuple[str, Any]:
    """(schema dir, factory kind/apiVersion → validator) of kubernetes-validate's bundled strict
    schemas for `version`; the definitions are loaded once, not once per document."""
    import jsonschema
    import kubernetes_validate.utils as kv
    from referencing import Registry, Resource

    supported = [v for v in kv.all_versions() if tuple(map(int, kv.major_minor(v).split("."))) <= tuple(map(int, version.split(".")))]
    if not supported:
        raise MissingInput(f"kubernetes-validate bundles no schemas for Kubernetes {version}")
    schema_dir = f"kubernetes-json-schema/v{supported[-1]}-local-strict"
    definitions = kv.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ Registry()

    @functools.lru_cache(maxsize=64)
    def for_kind(kind: str, api_version: str):
        group = api_version.split("/")[0].split(".")[0] + "-" + api_version.split("/")[1] if "/" in api_version else api_version
        try:
            schema = kv.schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", version)
        except FileNotFoundError:
            return None
        return jsonschema.validators.Draft202012Validator(schema, registry=Resource.from_contents(schema) @ registry)

    return kv.major_minor(supported[-1]), for_kind


def schema_errors(m: Manifest, version: str) -> list[str]:
    """Strict schema violations of one object (unknown fields included); [] when valid."""
    used, for_kind = _validators(version)
    validator = for_kind(m.kind, str(m.data.get("apiVersion", "")))
    if validator is None:
        return [f"no schema for kind {m.kind!r} apiVersion {m.data.get('apiVersion')!r} in Kubernetes {used}"]
    out = []
    for error in sorted(validator.iter_errors(m.data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top)"
        out.append(f"{where}: {error.message[:200]}")
    return out


def committed_files(ctx: CheckContext) -> list[Path]:
    """Files git tracks under the project root; every file when it is not a git checkout."""
    try:
        run = subprocess.run(["git", "ls-files", "-z"], check=False, cwd=ctx.root, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        run = None
    if run is not None and run.returncode == 0:
        return [ctx.root / name for name in run.stdout.decode("utf-8", "replace").split("\0") if name]
    skip = {".git", ".stagectl", "__pycache__", ".pytest_cache"}
    return [p for p in ctx.root.rglob("*") if p.is_file() and not skip & set(p.relative_to(ctx.root).parts)]


def config_map_values(m: Manifest) -> Iterator[tuple[str, str]]:
    for key, value in (m.data.get("data") or {}).items():
        yield str(key), value if isinstance(value, str) else json.dumps(value)


@dataclasses.dataclass(frozen=True)
class Build:
    """`kubectl kustomize` (or `kustomize build`) of the staging overlay: argv, exit code, objects."""

    argv: list[str]
    returncode: int
    objects: list[dict]
    stderr: str


_builds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def start_kustomize(ctx: CheckContext, secret_names: list[str]) -> None:
    """Start building the staging overlay in the background (kubectl takes ~0.2 s of wall time,
    overlapped with the other checks), from a temporary copy whose secrets.env holds placeholders:
    the user's real secrets never reach the tool or its output. Nothing happens without a tool."""
    import shutil
    import tempfile

    if ctx in _builds:
        return
    kubectl, kustomize = ctx.which("kubectl"), ctx.which("kustomize")
    source = k8s_dir(ctx)
    if not (kubectl or kustomize) or not source.is_dir():
        _builds[ctx] = None
        return
    tmp = tempfile.TemporaryDirectory(prefix="stagectl-kustomize-")
    copy = Path(tmp.name) / "kubernetes"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(Path(SECRETS_ENV).name))
    (copy / SECRETS_ENV).write_text("".join(f"{n}=validate-placeholder-{i}\n" for i, n in enumerate(secret_names)), encoding="utf-8")
    overlay = str(copy / Path(SECRETS_ENV).parent)
    argv = [kubectl, "kustomize", overlay] if kubectl else [str(kustomize), "build", overlay]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _builds[ctx] = (argv, proc, tmp)
    weakref.finalize(ctx, _reap, proc, tmp)


def _reap(proc: subprocess.Popen, tmp) -> None:
    """A build no check waited for (one check run alone): kill and reap it, drop its copy."""
    if proc.returncode is None:
        proc.kill()
        proc.communicate()
    tmp.cleanup()


def kustomize_build(ctx: CheckContext, secret_names: list[str]) -> Build:
    """The finished build of the staging overlay; MissingInput when no tool is found."""
    manifests(ctx)  # MissingInput when there is no layout
    start_kustomize(ctx, secret_names)
    started = _builds[ctx]
    if started is None:
        raise MissingInput("neither kubectl nor kustomize on PATH (install kubectl: https://kubernetes.io/docs/tasks/tools/)")
    argv, proc, tmp = started
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    finally:
        tmp.cleanup()
    objects = []
    if proc.returncode == 0:
        objects = [d for d in yaml.load_all(out, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
    return Build([Path(argv[0]).name, argv[1]], proc.returncode, objects, err.replace(tmp.name, "<copy>"))
