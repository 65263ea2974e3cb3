"""The `kubernetes` section beyond its breaking cases: the kustomize build's Secret rewriting,
its reasoned skip without a tool, and that a user's real secrets never reach the tool."""

from __future__ import annotations

from stagectl.validate.runner import load_builtin_checks, run_one
from tests.unit.fixtures_checks.helpers import context, copy_stack, user_env
from tests.unit.fixtures_checks.k8s_cases import K8S, container, edit_doc


def _run(root, check_id, **kwargs):
    ctx = context(root, **kwargs)
    try:
        return run_one(load_builtin_checks()[check_id], ctx)
    finally:
        ctx.close()


def test_a_secret_reference_kustomize_does_not_rewrite_fails_the_build_check(tmp_path):
    root = copy_stack(tmp_path)
    edit_doc(root, "base/llm.yaml", "Deployment", "llm",
             lambda d: container(d)["env"][0]["valueFrom"]["secretKeyRef"].update(name="other-secret"))
    (result,) = _run(root, "kubernetes.kustomize_build")
    assert result.status == "fail" and "other-secret" in result.message


def test_without_kubectl_or_kustomize_the_build_is_a_reasoned_skip(tmp_path):
    (result,) = _run(copy_stack(tmp_path), "kubernetes.kustomize_build", search_path=str(tmp_path / "no-bin"))
    assert result.status == "skip" and "kubectl" in result.message


def test_the_build_sees_placeholders_never_the_users_secrets(tmp_path):
    root = copy_stack(tmp_path)
    user_env(root)
    real = dict(line.split("=", 1) for line in (root / ".env.staging").read_text().splitlines() if line.startswith("REDIS_PASSWORD="))
    (root / K8S / "overlays/staging/secrets.env").write_text(f"REDIS_PASSWORD={real['REDIS_PASSWORD']}\n")
    (result,) = _run(root, "kubernetes.kustomize_build")
    # the check builds a copy whose secrets.env holds placeholders for every SECRET variable
    assert result.status == "pass", result.message
    assert real["REDIS_PASSWORD"] not in result.message
