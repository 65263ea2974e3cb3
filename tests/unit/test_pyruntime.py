"""The Python runtime's file selection (pure logic on a fake site-packages; the runtime itself
is exercised with real processes in tests/integration/test_local_hardening.py)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from stagectl.backends.local import pyruntime
from stagectl.errors import PreflightError


def fake_dist(site: Path, name: str, *, record: bool, top_level: str | None = None) -> metadata.Distribution:
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text("")
    (site / name / "core.py").write_text("")
    (site / f"{name}_other").mkdir()  # another distribution's package with a similar name
    (site / f"{name}_other" / "x.py").write_text("")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if record:
        (info / "RECORD").write_text(f"{name}/__init__.py,,\n{name}-1.0.dist-info/METADATA,,\n../../../bin/{name},,\n")
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)
    return metadata.PathDistribution(info)


def test_files_come_from_record(tmp_path):
    dist = fake_dist(tmp_path, "pkg", record=True)
    assert pyruntime._files_of(dist, str(tmp_path)) == ["pkg/__init__.py", "pkg-1.0.dist-info/METADATA", "../../../bin/pkg"]


def test_without_record_the_top_level_names_and_metadata_are_taken(tmp_path):
    """Debian's packages ship no RECORD: their top-level packages and .dist-info are copied."""
    dist = fake_dist(tmp_path, "pkg", record=False, top_level="pkg\n")
    files = sorted(pyruntime._files_of(dist, str(tmp_path)))
    assert files == ["pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/top_level.txt", "pkg/__init__.py", "pkg/core.py"]


def test_without_record_or_top_level_it_says_which_distribution(tmp_path):
    dist = fake_dist(tmp_path, "pkg", record=False)
    with pytest.raises(PreflightError, match="'pkg' lists no files"):
        pyruntime._files_of(dist, str(tmp_path))


def test_closure_follows_extras_and_skips_editable_installs():
    names = {d.metadata["Name"].lower() for d in pyruntime.closure(["moto[s3]", "flask"])}
    assert {"moto", "flask", "boto3", "botocore", "pyyaml", "werkzeug"} <= names  # pyyaml: moto's s3 extra
    assert "cfn-lint" not in names  # only moto's server extra needs it


def test_a_missing_requirement_names_its_install_command():
    with pytest.raises(PreflightError, match="'surely-not-installed-dist' is not installed") as caught:
        pyruntime.closure(["surely-not-installed-dist>=1"])
    assert caught.value.hint == "pip install 'surely-not-installed-dist>=1'"
