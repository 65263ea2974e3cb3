"""A pydantic alias decides the name a setting is read under: the field's own name no longer
counts as a read, the alias does, and a misspelt alias leaves the real variable unread."""

from __future__ import annotations

from tests.unit.fixtures_checks.helpers import copy_stack, replace, run

SETTINGS = "dashboard/inventario_dashboard/settings.py"
FIELD = 's3_bucket_name: str = ""'


def _statuses(results):
    return {(r.status, r.id.rsplit("[", 1)[-1].rstrip("]")) for r in results}


def test_misspelt_alias_leaves_the_variable_unread(tmp_path):
    root = copy_stack(tmp_path)
    replace(root, SETTINGS, FIELD, 's3_bucket_name: str = Field("", validation_alias=AliasChoices("S3_BUCKT_NAME"))')
    # (S3_BUCKET_NAME is read by the S3 init script too, so only the alias check sees this one)
    known = run(root, "deadvars.aliases_known")
    assert _statuses(known) == {("fail", "s3_bucket_name:S3_BUCKT_NAME")}
    assert known[0].location.endswith("settings.py:38")


def test_misspelt_alias_of_a_dashboard_only_variable_is_dead(tmp_path):
    root = copy_stack(tmp_path)
    replace(root, SETTINGS, 'dashboard_request_timeout: str = ""',
            'dashboard_request_timeout: str = Field("", alias="DASHBOARD_REQUST_TIMEOUT")')
    assert ("fail", "DASHBOARD_REQUEST_TIMEOUT") in _statuses(run(root, "deadvars.unread"))
    assert ("fail", "dashboard_request_timeout:DASHBOARD_REQUST_TIMEOUT") in _statuses(run(root, "deadvars.aliases_known"))


def test_plain_alias_counts_as_a_read(tmp_path):
    root = copy_stack(tmp_path)
    replace(root, SETTINGS, FIELD, 'bucket: str = Field("", alias="S3_BUCKET_NAME")')
    assert {r.status for r in run(root, "deadvars.unread")} == {"pass"}
    assert {r.status for r in run(root, "deadvars.aliases_known")} == {"pass"}


def test_alias_choices_in_annotated_count(tmp_path):
    root = copy_stack(tmp_path)
    replace(root, SETTINGS, FIELD,
            'bucket: Annotated[str, Field(validation_alias=AliasChoices("BUCKET", "S3_BUCKET_NAME"))] = ""')
    assert {r.status for r in run(root, "deadvars.unread")} == {"pass"}
    assert ("fail", "bucket:BUCKET") in _statuses(run(root, "deadvars.aliases_known"))


def test_field_name_alone_still_counts_without_alias(tmp_path):
    root = copy_stack(tmp_path)
    assert {r.status for r in run(root, "deadvars.unread")} == {"pass"}
    assert {r.status for r in run(root, "deadvars.aliases_known")} == {"pass"}
