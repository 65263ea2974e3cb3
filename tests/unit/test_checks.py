"""The check framework, the `validate` command, the catalogue, and the repo's own stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import stagectl
from stagectl.output import JSON_SCHEMA_VERSION
from stagectl.validate import catalogue, registry
from stagectl.validate.inputs import MissingInput
from stagectl.validate.registry import CheckSpec, failed, passed
from stagectl.validate.runner import load_builtin_checks, run_checks, run_one
from tests.unit.fixtures_checks.helpers import context, copy_stack, user_env

REPO = Path(__file__).resolve().parents[2]
MIN_CHECKS, MIN_SECTIONS = 80, 12


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}  # wide table: ids are not folded
    return subprocess.run([sys.executable, "-m", "stagectl", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_registry_size_and_sections():
    registry = load_builtin_checks()
    assert len(registry) >= MIN_CHECKS
    assert len({s.section for s in registry.values()}) >= MIN_SECTIONS
    assert all(s.catches.strip() and s.description.strip() for s in registry.values())


def test_duplicate_check_id_is_rejected():
    load_builtin_checks()
    existing = next(iter(registry.REGISTRY))
    with pytest.raises(ValueError, match="registered twice"):
        registry.check(existing, "x", "d", catches="c")(lambda ctx: passed("ok"))


def test_a_raising_check_is_an_error_and_the_others_still_run(tmp_path):
    ctx = context(copy_stack(tmp_path))

    def boom(ctx):
        raise KeyError("surprise")

    specs = [
        CheckSpec("t.boom", "t", "raises", "nothing", boom),
        CheckSpec("t.ok", "t", "passes", "nothing", lambda ctx: passed("fine")),
        CheckSpec("t.bad", "t", "fails", "nothing", lambda ctx: failed("broken"), hint="default hint"),
    ]
    run = run_checks(ctx, specs)
    assert [(r.id, r.status) for r in run.results] == [("t.boom", "error"), ("t.ok", "pass"), ("t.bad", "fail")]
    assert "KeyError" in run.results[0].message
    assert run.results[2].hint == "default hint"
    assert run.duration_s > 0


def test_missing_input_is_a_reasoned_skip_and_empty_output_an_error(tmp_path):
    ctx = context(copy_stack(tmp_path))

    def needs(ctx):
        raise MissingInput("compose/x.yml does not exist")

    skipped = run_one(CheckSpec("t.needs", "t", "d", "c", needs), ctx)
    assert skipped[0].status == "skip" and "compose/x.yml" in skipped[0].message
    empty = run_one(CheckSpec("t.empty", "t", "d", "c", lambda ctx: []), ctx)
    assert empty[0].status == "error"


def test_item_results_get_their_own_ids(tmp_path):
    ctx = context(copy_stack(tmp_path))
    spec = CheckSpec("t.items", "t", "d", "c", lambda ctx: [failed("a", item="A"), failed("b", item="B")])
    assert [r.id for r in run_one(spec, ctx)] == ["t.items[A]", "t.items[B]"]


def test_unbroken_fixture_passes_every_check(tmp_path):
    root = copy_stack(tmp_path)
    user_env(root)
    results = run_checks(context(root)).results
    bad = [(r.id, r.status, r.message) for r in results if r.status != "pass"]
    assert bad == []
    assert {r.id.split("[")[0] for r in results} == set(load_builtin_checks())


def test_without_user_env_only_the_user_env_checks_skip(tmp_path):
    results = run_checks(context(copy_stack(tmp_path))).results
    skipped = sorted(r.id for r in results if r.status == "skip")
    assert skipped == ["env.user_env_complete", "security.user_secret_strength", "security.user_secrets_changed"]
    assert all(r.status == "pass" for r in results if r.status != "skip")


def test_unread_variables_are_reported_one_by_one_with_their_line(tmp_path):
    root = copy_stack(tmp_path)
    (root / ".env.staging.example").open("a").write("# a\nFIRST_UNUSED=1\n# b\nSECOND_UNUSED=2\n")
    results = run_one(load_builtin_checks()["deadvars.unread"], context(root))
    lines = len((root / ".env.staging.example").read_text().splitlines())
    assert [(r.id, r.location) for r in results] == [
        ("deadvars.unread[FIRST_UNUSED]", f".env.staging.example:{lines - 2}"),
        ("deadvars.unread[SECOND_UNUSED]", f".env.staging.example:{lines}"),
    ]


def test_validate_json_shape_and_exit_code(tmp_path):
    root = copy_stack(tmp_path)
    user_env(root)
    ok = _cli("-C", str(root), "validate", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert list(doc) == ["stagectl_version", "schema_version", "checks", "summary", "duration_s"]
    assert (doc["stagectl_version"], doc["schema_version"]) == (stagectl.__version__, JSON_SCHEMA_VERSION)
    assert set(doc["summary"]) == {"passed", "failed", "skipped", "errors", "not_applicable", "total"}
    assert doc["summary"]["total"] == len(doc["checks"]) >= MIN_CHECKS
    assert set(doc["checks"][0]) >= {"id", "section", "status", "message", "location", "hint"}
    (root / "compose/s3/init-s3.sh").chmod(0o644)
    bad = _cli("-C", str(root), "validate", "--json", "--section", "files")
    assert bad.returncode == 1
    statuses = {c["id"]: c["status"] for c in json.loads(bad.stdout)["checks"]}
    assert statuses["files.s3_init"] == "fail" and {c.split(".")[0] for c in statuses} == {"files"}


def test_validate_unknown_section_and_config_error_exit_2(tmp_path):
    root = copy_stack(tmp_path)
    assert _cli("-C", str(root), "validate", "--section", "nope").returncode == 2
    (root / "stagectl.yaml").write_text("version: 1\nproject: BAD NAME\nservices: {}\n")
    assert _cli("-C", str(root), "validate").returncode == 2


def test_validate_table_shows_failures_with_hints_and_masks_secrets(tmp_path):
    root = copy_stack(tmp_path)
    secret = "canary-secret-value-0123456789"
    user_env(root, POSTGRES_PASSWORD=secret)
    # leak the secret into a rendered file: the failure must name the file but never the value
    (root / "compose/.env.staging").write_text((root / "compose/.env.staging").read_text().replace("change-me-postgres", secret))
    out = _cli("-C", str(root), "validate", "--section", "security")
    assert out.returncode == 1
    assert "security.no_secrets_rendered" in out.stdout and "FAIL" in out.stdout
    assert secret not in out.stdout + out.stderr


def test_validate_junit_is_well_formed(tmp_path):
    root = copy_stack(tmp_path)
    target = tmp_path / "reports" / "validate.xml"
    out = _cli("-C", str(root), "validate", "--junit", str(target), "--section", "ports", "--section", "alerts")
    assert out.returncode == 0, out.stdout
    suite = ET.parse(target).getroot().find("testsuite")
    assert suite.get("name") == "stagectl.validate"
    names = [c.get("name") for c in suite.findall("testcase")]
    assert len(names) == len(set(names)) == int(suite.get("tests")) > 0
    assert all(n.startswith(("ports.", "alerts.")) for n in names)


def test_catalogue_is_current():
    expected = catalogue.catalogue_markdown(load_builtin_checks())
    assert (REPO / "docs" / "checks.md").read_text(encoding="utf-8") == expected, (
        "docs/checks.md is stale: python -m stagectl.validate.catalogue > docs/checks.md"
    )


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
@pytest.mark.parametrize("root", [REPO, Path(__file__).parent / "fixtures_checks" / "stack"], ids=["repo", "fixture"])
def test_alert_rules_pass_their_promtool_unit_tests(root):
    """`promtool test rules` is too slow for validate's budget (~180 ms), so it runs here."""
    tests_file = root / "compose/prometheus/alerts.staging.test.yml"  # committed: missing is a failure
    run = subprocess.run(["promtool", "test", "rules", tests_file.name], cwd=tests_file.parent, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_repo_stack_passes_validate():
    """The repo's own rendered (committed) stack passes every check."""
    out = _cli("validate", "--json")
    doc = json.loads(out.stdout)
    bad = [(c["id"], c["status"], c["message"]) for c in doc["checks"] if c["status"] in ("fail", "error")]
    assert bad == []
    assert out.returncode == 0


def test_missing_binary_failure_carries_the_install_command(tmp_path):
    ctx = context(copy_stack(tmp_path), search_path=str(tmp_path / "empty-bin"))
    result = run_one(load_builtin_checks()["system.promtool"], ctx)[0]
    assert result.status == "fail"
    assert result.hint and "apt-get install -y --no-install-recommends prometheus" in result.hint
