"""Kubernetes memory quantities (``512Mi``, ``1G``, ``1.5Gi``) as exact numbers of bytes.

A resize multiplies a container's memory limit by a factor, caps it at the runbook's
maximum, and scales the request by the same ratio; each step is exact (``Fraction``), and
the result is written back in the largest binary unit that holds it as a whole number, as
``kubectl`` users write it.

>>> parse_quantity("256Mi") * Fraction(3, 2) == parse_quantity("384Mi")
True
>>> format_bytes(parse_quantity("1.5Gi"))
'1536Mi'
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Final

QUANTITY_PATTERN: Final = r"^[0-9]+(\.[0-9]+)?([eE][0-9]+|[KMGTPE]i|[kMGTPE]|m)?$"
"""What a quantity looks like (a subset of Kubernetes' grammar: no sign, no exponent sign)."""
_QUANTITY: Final = re.compile(QUANTITY_PATTERN)
_SUFFIXES: Final[dict[str, Fraction]] = {
    "": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
    "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
MIB: Final = 2**20


class QuantityError(ValueError):
    """A quantity that cannot be read; the message names it."""


def parse_quantity(text: str) -> Fraction:
    """The exact value of a quantity.

    >>> parse_quantity("512Mi") == 512 * 2**20, parse_quantity("1G"), parse_quantity("1e3")
    (True, Fraction(1000000000, 1), Fraction(1000, 1))
    >>> try:
    ...     parse_quantity("lots")
    ... except QuantityError as e:
    ...     print(e)
    'lots' is not a Kubernetes quantity (such as 512Mi)
    """
    text = str(text).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (such as 512Mi)")
    suffix = match.group(2) or ""
    mantissa = Fraction(text[: len(text) - len(suffix)])
    if suffix[:1] in ("e", "E"):
        return mantissa * Fraction(10) ** int(suffix[1:])
    return mantissa * _SUFFIXES[suffix]


def format_bytes(value: Fraction | int) -> str:
    """Whole bytes as a quantity, in the largest binary unit that holds them exactly.

    >>> format_bytes(384 * 2**20), format_bytes(2 * 2**30), format_bytes(1000), format_bytes(0)
    ('384Mi', '2Gi', '1000', '0')
    """
    number = math.ceil(value)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = int(_SUFFIXES[suffix])
        if number and number % unit == 0:
            return f"{number // unit}{suffix}"
    return str(number)


def raised_memory(limit: str, request: str | None, factor: float,
                  maximum: str) -> tuple[str, str | None]:
    """The memory limit raised by ``factor``, rounded up to a whole MiB and capped at
    ``maximum``, and the request scaled by the same ratio (so the request-to-limit ratio
    holds), rounded up to a whole byte; ``request`` None stays None.

    Raises :class:`QuantityError` on a quantity it cannot read, or when the limit is at
    ``maximum`` already: nothing is left to raise.

    >>> raised_memory("256Mi", "128Mi", 1.5, "1Gi")
    ('384Mi', '192Mi')
    >>> raised_memory("768Mi", None, 2, "1Gi")
    ('1Gi', None)
    >>> try:
    ...     raised_memory("1Gi", "1Gi", 1.5, "1Gi")
    ... except QuantityError as e:
    ...     print(e)
    the memory limit 1Gi is at the maximum 1Gi already: nothing left to raise
    """
    old, cap = parse_quantity(limit), parse_quantity(maximum)
    if old <= 0:
        raise QuantityError(f"memory limit {limit} is not positive")
    if old >= cap:
        raise QuantityError(f"the memory limit {limit} is at the maximum {maximum} already: "
                            "nothing left to raise")
    new = min(Fraction(math.ceil(old * Fraction(factor) / MIB) * MIB), cap)
    if request is None:
        return format_bytes(new), None
    return format_bytes(new), format_bytes(parse_quantity(request) * new / old)
