"""Scoping a PromQL expression to a few namespaces, by adding a matcher to each selector.

``restrict('sum by (namespace) (rate(x_total{code="500"}[1m]))', "namespace", ["a", "b"])``
gives ``sum by (namespace) (rate(x_total{namespace=~"a|b",code="500"}[1m]))``: Prometheus then
reads only the series of those namespaces, instead of every namespace's, to answer the query
that a thousand runbooks share. The rewrite is a small scanner, not a parser: it knows
selectors (``name``, ``name{...}``, ``{...}``), ranges and subqueries (``[...]``), strings,
comments, label lists (``by``, ``without``, ``on``, ``ignoring``, ``group_left``,
``group_right``), functions and keywords. Anything it does not recognise, it declines (None),
and the caller runs the query as written: restricting is an optimisation, never a meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER: Final = re.compile(r"(0x[0-9a-fA-F]+|[0-9][0-9a-zA-Z_.]*([eE][+-]?[0-9]+)?)")
_VALUE: Final = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")  # a namespace's name
_LABEL_LISTS: Final = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS: Final = frozenset({
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
})
_OPERATORS: Final = "+-*/%^=!<>,()@"


def restrict(promql: str, label: str, values: Iterable[str]) -> str | None:
    """``promql`` with ``label=~"v1|v2"`` on every selector, or None when it cannot say.

    >>> restrict('sum by (namespace) (rate(req_total{code=~"5.."}[1m]))', "namespace", ["b", "a"])
    'sum by (namespace) (rate(req_total{namespace=~"a|b",code=~"5.."}[1m]))'
    >>> restrict("max by (deployment) (mem) / on (deployment) group_left limit", "ns", ["a"])
    'max by (deployment) (mem{ns=~"a"}) / on (deployment) group_left limit{ns=~"a"}'
    >>> restrict('histogram_quantile(0.99, sum by (le) (rate(d_bucket{}[20s] offset 1m)))',
    ...          "namespace", ["shop"])
    'histogram_quantile(0.99, sum by (le) (rate(d_bucket{namespace=~"shop"}[20s] offset 1m)))'
    >>> restrict("up{job='a'", "namespace", ["a"]) is None  # unbalanced: left as written
    True
    """
    chosen = sorted(set(values))
    if not chosen or not all(_VALUE.fullmatch(v) for v in chosen):
        return None
    matcher = f'{label}=~"{"|".join(chosen)}"'
    out: list[str] = []
    i, n = 0, len(promql)
    while i < n:
        c = promql[i]
        if c.isspace() or c in _OPERATORS:
            out.append(c)
            i += 1
        elif c in "\"'`":
            end = _string_end(promql, i)
            if end is None:
                return None
            out.append(promql[i:end])
            i = end
        elif c == "#":
            end = promql.find("\n", i)
            end = n if end < 0 else end
            out.append(promql[i:end])
            i = end
        elif c == "[":
            end = promql.find("]", i)
            if end < 0:
                return None
            out.append(promql[i:end + 1])
            i = end + 1
        elif c == "{":
            end = _brace_end(promql, i)
            if end is None:
                return None
            inner = promql[i + 1:end - 1].strip()
            out.append("{" + matcher + ("," + inner if inner else "") + "}")
            i = end
        elif c.isdigit() or (c == "." and i + 1 < n and promql[i + 1].isdigit()):
            number = _NUMBER.match(promql, i)
            end = number.end() if number else i + 1
            out.append(promql[i:end])
            i = end
        elif (name := _NAME.match(promql, i)) is not None:
            word = name.group()
            i = name.end()
            out.append(word)
            following = promql[i:].lstrip()
            if word.lower() in _LABEL_LISTS:
                if following.startswith("("):
                    close = promql.find(")", i)
                    if close < 0:
                        return None
                    out.append(promql[i:close + 1])
                    i = close + 1
            elif word.lower() in _KEYWORDS or following.startswith("("):
                pass  # an operator, an aggregation or a function
            elif not following.startswith("{"):
                out.append("{" + matcher + "}")
        else:
            return None
    return "".join(out)


def _string_end(text: str, start: int) -> int | None:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return None


def _brace_end(text: str, start: int) -> int | None:
    i = start + 1
    while i < len(text):
        if text[i] in "\"'`":
            end = _string_end(text, i)
            if end is None:
                return None
            i = end
            continue
        if text[i] == "}":
            return i + 1
        i += 1
    return None
