"""A small PromQL scanner: which series names an expression selects, and is it well-formed.

promtool parses PromQL fully (and `alerts.promtool_rules` runs it), but Grafana panel queries and
a machine without promtool still need the metric names, so this lexer is hand-written; it only
understands enough of PromQL to tell selectors from functions, keywords, labels and durations.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""\s+
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)*)
    |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    |(?P<var>\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?)
    |(?P<op>==|!=|=~|!~|>=|<=|[-+*/%^<>=,@]|[(){}\[\]])
    """,
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_PAIRS = {")": "(", "]": "[", "}": "{"}


class PromQLError(ValueError):
    pass


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise PromQLError(f"unexpected {expr[pos:pos + 10]!r} at offset {pos}")
        pos = match.end()
        if match.lastgroup:
            out.append((match.lastgroup, match.group(match.lastgroup)))
    return out


def check_syntax(expr: str) -> None:
    """Raise PromQLError for an empty expression, an unknown character or unbalanced brackets."""
    toks = tokens(str(expr))
    if not toks:
        raise PromQLError("empty expression")
    stack: list[str] = []
    for kind, text in toks:
        if kind != "op":
            continue
        if text in "([{":
            stack.append(text)
        elif text in _PAIRS:
            if not stack or stack.pop() != _PAIRS[text]:
                raise PromQLError(f"unbalanced {text!r}")
    if stack:
        raise PromQLError(f"unclosed {stack[-1]!r}")
    if toks[-1][0] == "op" and toks[-1][1] not in ")]}":
        raise PromQLError(f"expression ends with operator {toks[-1][1]!r}")


def metric_names(expr: str) -> set[str]:
    """Series names selected by `expr` (bare selectors and {__name__="..."} matchers)."""
    toks, names, depth_brace, depth_bracket = tokens(str(expr)), set(), 0, 0
    skip_label_list = False
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if text == "{":
            depth_brace += 1
        elif text == "}":
            depth_brace -= 1
        elif text == "[":
            depth_bracket += 1
        elif text == "]":
            depth_bracket -= 1
        elif depth_brace and kind == "ident" and text == "__name__" and nxt in ("=",) and i + 2 < len(toks):
            names.add(toks[i + 2][1].strip("\"'`"))
        elif kind == "ident" and not depth_brace and not depth_bracket:
            if text in LABEL_LIST_KEYWORDS:
                skip_label_list = nxt == "("
            elif text == "offset":
                i += 1  # the duration that follows
            elif text not in KEYWORDS and nxt != "(" and nxt not in ("by", "without"):
                names.add(text)
        elif skip_label_list and text == "(":
            # skip `by (a, b)` label lists
            while i < len(toks) and toks[i][1] != ")":
                i += 1
            skip_label_list = False
        i += 1
    return names
