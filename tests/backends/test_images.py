"""Unit tests of the pure parts of stagectl.images: the catalog, the upstream/local choice, the
input hash that makes a second build a cache hit."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagectl.errors import ConfigError
from stagectl.images.build import input_hash
from stagectl.images.catalog import BY_NAME, CATALOG, LOCAL_PREFIX, images_for_services, with_parents
from stagectl.images.select import MODE_VAR, choose_images

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = {"postgres": "postgres:15-alpine", "grafana": "grafana/grafana:11.2.0"}
ENABLED = ["postgres", "grafana", "dashboard"]


def test_every_tag_is_marked_local_and_every_parent_exists():
    for spec in CATALOG:
        assert spec.tag.startswith(LOCAL_PREFIX)
        assert spec.parent is None or spec.parent in BY_NAME
        assert (ROOT / spec.context / (spec.rootfs_script or spec.dockerfile)).is_file(), spec.name


def test_parents_come_first_once():
    order = [s.name for s in with_parents(["dashboard", "moto", "postgres"])]
    assert order.index("debian") < order.index("python") < order.index("dashboard")
    assert order.count("python") == 1 and order.count("debian") == 1


def test_auto_keeps_upstream_when_the_images_are_there():
    choice = choose_images(UPSTREAM, ENABLED, environ={}, image_exists=lambda i: True, resolves=lambda: False)
    assert (choice.mode, choice.skipped) == ("upstream", {})


def test_auto_keeps_upstream_when_the_registry_resolves():
    choice = choose_images(UPSTREAM, ENABLED, environ={}, image_exists=lambda i: False, resolves=lambda: True)
    assert choice.mode == "upstream"


def test_auto_takes_local_images_without_a_registry_and_skips_grafana():
    choice = choose_images(UPSTREAM, ENABLED, environ={}, image_exists=lambda i: False, resolves=lambda: False)
    assert choice.mode == "local"
    assert set(choice.skipped) == {"grafana"}
    assert choice.tags == {n: s.tag for n, s in images_for_services(["postgres", "dashboard"]).items()}


def test_forced_mode_and_a_bad_one():
    forced = choose_images(UPSTREAM, ENABLED, environ={MODE_VAR: "local"}, image_exists=lambda i: True)
    assert forced.mode == "local"
    with pytest.raises(ConfigError, match=MODE_VAR):
        choose_images(UPSTREAM, ENABLED, environ={MODE_VAR: "podman"}, image_exists=lambda i: True)


def test_input_hash_follows_context_files_and_parent(tmp_path):
    (tmp_path / "images" / "x").mkdir(parents=True)
    dockerfile = tmp_path / "images" / "x" / "Dockerfile"
    dockerfile.write_text("FROM a\n")
    spec = BY_NAME["redis"].__class__("x", LOCAL_PREFIX + "x:1", "images/x", parent="debian")
    first = input_hash(tmp_path, spec, "sha256:1")
    assert input_hash(tmp_path, spec, "sha256:1") == first
    assert input_hash(tmp_path, spec, "sha256:2") != first
    dockerfile.write_text("FROM b\n")
    assert input_hash(tmp_path, spec, "sha256:1") != first
