"""Memory quantities: exact parsing, formatting, and the raise a resize makes."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeheal.api.quantity import (
    MIB,
    QuantityError,
    format_bytes,
    parse_quantity,
    raised_memory,
)


@pytest.mark.parametrize(("text", "value"), [
    ("128Mi", 128 * MIB), ("1Gi", 2**30), ("1.5Gi", 1536 * MIB), ("1G", 10**9),
    ("500M", 5 * 10**8), ("2k", 2000), ("4Ki", 4096), ("1e6", 10**6), ("300", 300),
    ("100m", Fraction(1, 10)),
])
def test_quantities_are_read_exactly(text: str, value: Fraction | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1Gi", "1GiB", "1 Gi", "Mi", "1.Gi"])
def test_a_quantity_that_cannot_be_read_is_named(text: str) -> None:
    with pytest.raises(QuantityError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_bytes_are_written_in_the_largest_exact_binary_unit() -> None:
    assert [format_bytes(v) for v in (2**30, 1536 * MIB, 4096, 10**9, Fraction(3, 2))] == \
        ["1Gi", "1536Mi", "4Ki", "1000000000", "2"]


def test_a_raise_keeps_the_request_to_limit_ratio() -> None:
    assert raised_memory("256Mi", "128Mi", 1.5, "1Gi") == ("384Mi", "192Mi")
    assert raised_memory("256Mi", "256Mi", 2, "4Gi") == ("512Mi", "512Mi")
    assert raised_memory("300Mi", "100Mi", 1.5, "1Gi") == ("450Mi", "150Mi")


def test_a_raise_rounds_the_limit_up_to_a_whole_mebibyte() -> None:
    limit, request = raised_memory("1G", "500M", 1.1, "8Gi")
    assert parse_quantity(limit) % MIB == 0
    assert parse_quantity(limit) >= Fraction(11, 10) * 10**9
    assert parse_quantity(limit) - Fraction(11, 10) * 10**9 < MIB
    assert request is not None and parse_quantity(request) * 2 >= parse_quantity(limit)


def test_a_raise_stops_at_the_maximum() -> None:
    limit, request = raised_memory("768Mi", "384Mi", 2, "1Gi")
    assert (limit, request) == ("1Gi", "512Mi")


def test_a_limit_at_or_above_the_maximum_has_nothing_left_to_raise() -> None:
    for limit in ("1Gi", "2Gi"):
        with pytest.raises(QuantityError, match="nothing left to raise"):
            raised_memory(limit, None, 1.5, "1Gi")


def test_a_request_without_a_limit_stays_absent() -> None:
    assert raised_memory("256Mi", None, 1.5, "1Gi") == ("384Mi", None)


@given(limit_mib=st.integers(1, 64 * 1024), ratio=st.fractions(Fraction(1, 10), 1),
       factor=st.floats(1.01, 4.0), max_mib=st.integers(2, 128 * 1024))
def test_every_raise_is_within_bounds(limit_mib: int, ratio: Fraction, factor: float,
                                      max_mib: int) -> None:
    request = format_bytes(limit_mib * MIB * ratio)
    if limit_mib >= max_mib:
        with pytest.raises(QuantityError):
            raised_memory(f"{limit_mib}Mi", request, factor, f"{max_mib}Mi")
        return
    limit, new_request = raised_memory(f"{limit_mib}Mi", request, factor, f"{max_mib}Mi")
    old, new = limit_mib * MIB, parse_quantity(limit)
    assert old < new <= max_mib * MIB
    assert new <= old * Fraction(factor) + MIB
    assert new_request is not None
    # The ratio holds to within the rounding of a byte.
    assert abs(parse_quantity(new_request) / new - parse_quantity(request) / old) <= 1 / new
