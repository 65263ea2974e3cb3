"""Compose-style interpolation: every operator, nesting, escapes, and located errors."""

from __future__ import annotations

import pytest

from stagectl.config.interpolate import Report, interpolate, interpolate_tree
from stagectl.errors import ConfigError

ENV = {"SET": "value", "EMPTY": "", "PORT": "5433"}

CASES = [
    ("${SET}", "value"),
    ("$SET", "value"),
    ("$SET.suffix", "value.suffix"),
    ("pre-${SET}-post", "pre-value-post"),
    ("${UNSET}", ""),
    ("${SET:-d}", "value"),
    ("${EMPTY:-d}", "d"),
    ("${UNSET:-d}", "d"),
    ("${SET-d}", "value"),
    ("${EMPTY-d}", ""),
    ("${UNSET-d}", "d"),
    ("${SET:?msg}", "value"),
    ("${EMPTY?msg}", ""),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET:+alt}", ""),
    ("${SET+alt}", "alt"),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("$$", "$"),
    ("$${SET}", "${SET}"),
    ("a $$b $$$SET", "a $b $value"),
    ("${UNSET:-${SET}}", "value"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-a:b}", "a:b"),
    ("${UNSET:-}", ""),
    ("no variables", "no variables"),
]


@pytest.mark.parametrize(("template", "expected"), CASES)
def test_operators(template: str, expected: str) -> None:
    assert interpolate(template, ENV) == expected


ERRORS = [
    ("${SET", "f:3: k: unterminated ${ (missing closing })"),
    ("${UNSET:-${SET}", "f:3: k: unterminated ${ (missing closing })"),
    ("${UNSET:?please set it}", "f:3: k: required variable UNSET is missing a value: please set it"),
    ("${EMPTY:?}", "f:3: k: required variable EMPTY is missing a value: is empty"),
    ("${UNSET?}", "f:3: k: required variable UNSET is missing a value: is not set"),
    ("${1BAD}", "f:3: k: invalid variable reference: expected ${NAME}, ${NAME:-default}, ${NAME:?error} or ${NAME:+alt}"),
    ("${SET:x}", "f:3: k: invalid variable reference: expected ${NAME}, ${NAME:-default}, ${NAME:?error} or ${NAME:+alt}"),
    ("cost $5", "f:3: k: a '$' must start ${NAME} or $NAME"),
    ("trailing $", "f:3: k: a '$' must start ${NAME} or $NAME"),
]


@pytest.mark.parametrize(("template", "message"), ERRORS)
def test_errors_are_located(template: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        interpolate(template, ENV, where="f:3: k")
    assert info.value.message == message


def test_error_never_echoes_the_text() -> None:
    with pytest.raises(ConfigError) as info:
        interpolate("hunter2-secret${", ENV, where="x")
    assert "hunter2" not in info.value.message


def test_nesting_depth_is_bounded() -> None:
    deep = "${U:-" * 40 + "x" + "}" * 40
    with pytest.raises(ConfigError, match="nested more than"):
        interpolate(deep, {})


def test_report_names_used_defaulted_and_unset() -> None:
    report = Report()
    interpolate("${SET} ${A:-1} $B ${C-2} ${EMPTY:-3}", ENV, report=report)
    assert report.used == {"SET", "A", "B", "C", "EMPTY"}
    assert report.defaulted == {"A": "1", "C": "2"}
    assert report.unset == {"B"}


def test_tree_interpolates_values_not_keys_and_leaves_types_to_the_model() -> None:
    tree = {"${SET}": {"port": "${PORT}", "n": 3, "flag": True, "list": ["$SET", 1]}}
    assert interpolate_tree(tree, ENV) == {"${SET}": {"port": "5433", "n": 3, "flag": True, "list": ["value", 1]}}


def test_tree_errors_name_file_line_and_key_path() -> None:
    tree = {"services": {"db": {"command": ["run", "${BROKEN"]}}}
    with pytest.raises(ConfigError) as info:
        interpolate_tree(tree, ENV, source="stagectl.yaml", lines={"services.db.command[1]": 12})
    assert info.value.message == "stagectl.yaml:12: services.db.command[1]: unterminated ${ (missing closing })"
