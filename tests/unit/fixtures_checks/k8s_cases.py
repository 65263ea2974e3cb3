"""Breaking cases of the `kubernetes` section (merged into test_checks_breaking.CASES): each
mutates the fixture's deploy/kubernetes/ (a copy of the repo's render) so that one check fails."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.unit.fixtures_checks.helpers import append, remove, replace, user_env

K8S = "deploy/kubernetes"


def edit_doc(root: Path, rel: str, kind: str, name: str, change) -> None:
    """Apply `change` to the document kind/name of a multi-document manifest file."""
    path = root / K8S / rel
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    hits = [d for d in docs if d and d.get("kind") == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name} not in {rel}"
    change(hits[0])
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")


def drop_doc(root: Path, rel: str, kind: str, name: str) -> None:
    path = root / K8S / rel
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    kept = [d for d in docs if not (d and d.get("kind") == kind and d["metadata"]["name"] == name)]
    assert len(kept) == len(docs) - 1, f"{kind}/{name} not in {rel}"
    path.write_text(yaml.safe_dump_all(kept, sort_keys=False), encoding="utf-8")


def container(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]["containers"][0]


def real_secret_in_a_committed_file(root: Path) -> None:
    user_env(root)  # fresh, real secrets in .env.staging
    password = next(line.split("=", 1)[1] for line in (root / ".env.staging").read_text().splitlines() if line.startswith("POSTGRES_PASSWORD="))
    append(root, "NOTES.md", f"psql with password {password}\n")


KUBERNETES_CASES: dict[str, tuple] = {
    "kubernetes.schema": (lambda r: edit_doc(r, "base/redis.yaml", "StatefulSet", "redis", lambda d: container(d).update(imagePullPolicyy="Always")), {}),
    # listed twice: kustomize refuses "an already registered id"
    "kubernetes.kustomize_build": (lambda r: replace(r, f"{K8S}/base/kustomization.yaml", "  - llm.yaml\n", "  - llm.yaml\n  - llm.yaml\n"), {}),
    "kubernetes.kustomization": (lambda r: replace(r, f"{K8S}/base/kustomization.yaml", "  - s3-init.yaml\n", ""), {}),
    "kubernetes.services_match_spec": (lambda r: remove(r, f"{K8S}/base/llm.yaml"), {}),
    "kubernetes.selectors": (lambda r: edit_doc(r, "base/dashboard.yaml", "Deployment", "dashboard", lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "dash"})), {}),
    "kubernetes.service_ports": (lambda r: edit_doc(r, "base/redis.yaml", "Service", "redis", lambda d: d["spec"]["ports"][0].update(targetPort=6380)), {}),
    "kubernetes.probes_and_limits": (lambda r: edit_doc(r, "base/dashboard.yaml", "Deployment", "dashboard", lambda d: container(d).pop("livenessProbe")), {}),
    "kubernetes.security_context": (lambda r: edit_doc(r, "base/redis.yaml", "StatefulSet", "redis", lambda d: container(d)["securityContext"].update(allowPrivilegeEscalation=True)), {}),
    "kubernetes.images_pinned": (lambda r: edit_doc(r, "base/redis.yaml", "StatefulSet", "redis", lambda d: container(d).update(image="redis:latest")), {}),
    "kubernetes.refs_resolve": (lambda r: replace(r, f"{K8S}/base/postgres.yaml", "key: POSTGRES_PASSWORD", "key: POSTGRES_PASSWD"), {}),
    "kubernetes.no_secret_values": (real_secret_in_a_committed_file, {}),
    "kubernetes.network_policy_coverage": (lambda r: drop_doc(r, "base/network-policies.yaml", "NetworkPolicy", "redis"), {}),
}
