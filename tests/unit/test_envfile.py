"""The .env parser: Compose's documented dialect, and errors with file:line that never hold a value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagectl.config.envfile import parse_env_file, parse_env_text
from stagectl.errors import ConfigError

CANARY = "canary-9f3e1b7d"


def values(text: str | bytes, lookup: dict[str, str] | None = None) -> dict[str, str]:
    return {v.name: v.value for v in parse_env_text(text, ".env", lookup)}


# (file content, expected variables) — the examples of docs.docker.com/compose/env-file
GOOD = [
    ("VAR=VAL", {"VAR": "VAL"}),
    ('VAR="VAL"', {"VAR": "VAL"}),
    ("VAR='VAL'", {"VAR": "VAL"}),
    ("VAR=VAL # comment", {"VAR": "VAL"}),
    ("VAR=VAL# not a comment", {"VAR": "VAL# not a comment"}),
    ('VAR="VAL # not a comment"', {"VAR": "VAL # not a comment"}),
    ('VAR="VAL" # comment', {"VAR": "VAL"}),
    ("OTHER=x\nVAR='$OTHER'", {"OTHER": "x", "VAR": "$OTHER"}),
    ("OTHER=x\nVAR='${OTHER}'", {"OTHER": "x", "VAR": "${OTHER}"}),
    ("VAR='Let\\'s go!'", {"VAR": "Let's go!"}),
    ('VAR="{\\"hello\\": \\"json\\"}"', {"VAR": '{"hello": "json"}'}),
    ('VAR="some\\tvalue"', {"VAR": "some\tvalue"}),
    ("VAR='some\\tvalue'", {"VAR": "some\\tvalue"}),
    ("VAR=some\\tvalue", {"VAR": "some\\tvalue"}),
    ('VAR="a\\nb\\\\c"', {"VAR": "a\nb\\c"}),
    ('VAR="line one\nline two"\nNEXT=1', {"VAR": "line one\nline two", "NEXT": "1"}),
    ("# comment\n\n   \nexport A=1\n  B = 2  ", {"A": "1", "B": "2"}),
    ("A=1\nB=${A}-$A-${A:-x}-${MISSING:-d}", {"A": "1", "B": "1-1-1-d"}),
    ('A=1\nB="${A}\\$A"', {"A": "1", "B": "1$A"}),
    ("A=$$literal", {"A": "$literal"}),
    ("EMPTY=\nE2=''\nE3=\"\"", {"EMPTY": "", "E2": "", "E3": ""}),
    ("CSP=default-src 'none'; frame-ancestors 'none'", {"CSP": "default-src 'none'; frame-ancestors 'none'"}),
    ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ("\ufeffA=1", {"A": "1"}),
    ("A=1\nA=2", {"A": "2"}),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[g[0][:30] for g in GOOD])
def test_compose_dialect(text: str, expected: dict[str, str]) -> None:
    assert values(text) == expected


def test_line_numbers_count_comments_blank_lines_and_multiline_values() -> None:
    parsed = parse_env_text('# c\n\nA=1\nB="x\ny"\nC=3\n', ".env")
    assert [(v.name, v.line, v.end_line) for v in parsed] == [("A", 3, 3), ("B", 4, 5), ("C", 6, 6)]


def test_interpolation_prefers_earlier_file_variables_then_lookup() -> None:
    assert values("A=file\nB=${A}/${HOME_X}", {"A": "outside", "HOME_X": "h"}) == {"A": "file", "B": "file/h"}


def test_bare_name_inherits_from_lookup_or_is_skipped() -> None:
    assert values("INHERITED\nUNSET_ONE\nX=1", {"INHERITED": "v"}) == {"INHERITED": "v", "X": "1"}


# (content, golden message) — every message has file:line; the canary value never shows
BAD = [
    (f'A=1\nPASSWORD="{CANARY}', '.env:2: unterminated double-quoted value of PASSWORD'),
    (f"PASSWORD='{CANARY}\nB=2", ".env:1: unterminated single-quoted value of PASSWORD"),
    (f"1BAD={CANARY}", ".env:1: invalid variable name (expected NAME=value, NAME like [A-Za-z_][A-Za-z0-9_]*)"),
    (f"BAD-NAME={CANARY}", ".env:1: expected '=' after BAD"),
    (f"=x{CANARY}", ".env:1: invalid variable name (expected NAME=value, NAME like [A-Za-z_][A-Za-z0-9_]*)"),
    (f'A=1\n\nSECRET="{CANARY}" trailing', ".env:3: unexpected text after the closing quote of SECRET"),
    (f"TOKEN={CANARY}${{UNCLOSED", ".env:1: TOKEN: unterminated ${ (missing closing })"),
    (f"TOKEN={CANARY}$ x", ".env:1: TOKEN: a '$' must start ${NAME} or $NAME"),
    ("NEEDS=${REQUIRED:?set REQUIRED first}", ".env:1: NEEDS: required variable REQUIRED is missing a value: set REQUIRED first"),
    ("X=${:-x}", ".env:1: X: invalid variable reference: expected ${NAME}, ${NAME:-default}, ${NAME:?error} or ${NAME:+alt}"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_input_golden_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_env_text(text, ".env")
    assert info.value.message == message
    assert CANARY not in info.value.message and CANARY not in (info.value.hint or "")


def test_nul_byte_and_invalid_utf8_are_errors_with_line() -> None:
    with pytest.raises(ConfigError, match=r"^\.env:2: NUL byte in env file$"):
        parse_env_text(b"A=1\nB=x\x00y\n", ".env")
    with pytest.raises(ConfigError, match=r"^\.env:3: not valid UTF-8$"):
        parse_env_text(b"A=1\nB=2\nC=\xff\xfe\n", ".env")


def test_missing_file_is_a_config_error_naming_it(tmp_path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_env_file(tmp_path / ".env.staging", label=".env.staging")
    assert info.value.message == ".env.staging: env file not found"
    assert "stagectl init" in (info.value.hint or "")


def test_reads_a_file_with_its_label(tmp_path) -> None:
    path = tmp_path / "x.env"
    path.write_text("A=1\nB='2'\n", encoding="utf-8")
    assert [(v.name, v.value, v.line) for v in parse_env_file(path)] == [("A", "1", 1), ("B", "2", 2)]


ENV_ALPHABET = st.sampled_from(list("AZ_az09 =#'\"\\$\n\t{}:-?+x\x00\xff\r") + ["export ", "${", "\ufeff"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.lists(ENV_ALPHABET, max_size=60).map("".join)))
def test_parser_only_ever_raises_config_error(data: bytes | str) -> None:
    """Fault caught: an IndexError/RecursionError/UnicodeError escaping as an internal error (exit 70)."""
    try:
        parse_env_text(data, ".env", {"X": "1"})
    except ConfigError as exc:
        assert exc.message.startswith(".env"), exc.message
