"""Scoping PromQL to namespaces: every selector gets the matcher, nothing else changes."""

from __future__ import annotations

import pytest

from kubeheal.observe.promql import restrict

M = 'namespace=~"a|b"'


@pytest.mark.parametrize(("query", "scoped"), [
    ("up", f"up{{{M}}}"),
    ('up{job="x"}', f'up{{{M},job="x"}}'),
    ('{__name__="up"}', f'{{{M},__name__="up"}}'),
    ("rate(x_total[5m])", f"rate(x_total{{{M}}}[5m])"),
    ("max_over_time(rate(x[1m])[10m:1m])", f"max_over_time(rate(x{{{M}}}[1m])[10m:1m])"),
    ("sum without (pod) (x) / ignoring (pod) group_right (d) y",
     f"sum without (pod) (x{{{M}}}) / ignoring (pod) group_right (d) y{{{M}}}"),
    ("x > bool 0.5", f"x{{{M}}} > bool 0.5"),
    ("x offset 5m @ 1700000000", f"x{{{M}}} offset 5m @ 1700000000"),
    ('label_replace(x, "d", "$1", "s", "(.*)")',
     f'label_replace(x{{{M}}}, "d", "$1", "s", "(.*)")'),
    ("topk(3, x) and on (namespace) y", f"topk(3, x{{{M}}}) and on (namespace) y{{{M}}}"),
    ('x{a="}"} # a comment with y', f'x{{{M},a="}}"}} # a comment with y'),
    ("1 + 2", "1 + 2"),
])
def test_every_selector_is_scoped(query: str, scoped: str) -> None:
    assert restrict(query, "namespace", ["b", "a", "a"]) == scoped


@pytest.mark.parametrize(("query", "values"), [
    ('x{a="b"', ["a"]),           # unbalanced brace
    ("rate(x[5m)", ["a"]),        # unbalanced range
    ('x{a="b}', ["a"]),           # unterminated string
    ("x ~ y", ["a"]),             # a character PromQL does not have
    ("x", []),                    # nobody asked
    ("x", ['a"} or vector(1)']),  # not a namespace's name: never written into a query
])
def test_what_it_cannot_scope_it_declines(query: str, values: list[str]) -> None:
    assert restrict(query, "namespace", values) is None
