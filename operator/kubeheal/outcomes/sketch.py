"""Bounded, mergeable latency histograms and the quantiles read from them.

A :class:`~kubeheal.api.outcomes.LatencySketch` keeps counts in logarithmic buckets, as
DDSketch does: bucket ``i`` > 0 holds durations in ``[GROWTH**(i-1), GROWTH**i)`` seconds and
bucket 0 those under a second. A quantile is read as the geometric middle of its bucket, so it
is within ``sqrt(GROWTH) - 1`` (about 12%) of the true value whatever the number of
incidents; two sketches merge by adding their counts.

>>> s = LatencySketch()
>>> for seconds in (10, 20, 30, 40, 600):
...     s = observe(s, seconds)
>>> round(quantile(s, 0.5)), round(quantile(s, 0.9))
(32, 578)
>>> quantile(LatencySketch(), 0.5) is None
True
"""

from __future__ import annotations

import math
from typing import Final

from kubeheal.api.outcomes import LatencySketch

GROWTH: Final = 1.25
MAX_BUCKET: Final = 100
"""The last bucket (past 1.25**100 s, ages): longer durations are counted in it."""


def bucket_of(seconds: float) -> int:
    """The bucket a duration falls in.

    >>> bucket_of(0.4), bucket_of(1.0), bucket_of(1.2), bucket_of(1.25), bucket_of(100)
    (0, 1, 1, 2, 21)
    """
    if seconds < 1.0:
        return 0
    return min(MAX_BUCKET, math.floor(math.log(seconds) / math.log(GROWTH) + 1e-9) + 1)


def middle_of(bucket: int) -> float:
    """The value a bucket stands for: the geometric middle of its bounds (0.5 s for bucket 0).

    >>> middle_of(0), round(middle_of(2), 3)
    (0.5, 1.398)
    """
    if bucket == 0:
        return 0.5
    return float(GROWTH ** (bucket - 0.5))


def observe(sketch: LatencySketch, seconds: float) -> LatencySketch:
    """The sketch with one more duration (negative ones count as zero)."""
    seconds = max(0.0, seconds)
    key = str(bucket_of(seconds))
    buckets = dict(sketch.buckets)
    buckets[key] = buckets.get(key, 0) + 1
    return LatencySketch(count=sketch.count + 1, sum_seconds=sketch.sum_seconds + seconds,
                         buckets=buckets)


def merge(a: LatencySketch, b: LatencySketch) -> LatencySketch:
    """Both sketches' durations in one (the same as observing them all in one).

    >>> a, b = observe(LatencySketch(), 5), observe(observe(LatencySketch(), 5), 50)
    >>> m = merge(a, b)
    >>> m.count, m.buckets == observe(observe(observe(LatencySketch(), 5), 5), 50).buckets
    (3, True)
    """
    buckets = dict(a.buckets)
    for key, n in b.buckets.items():
        buckets[key] = buckets.get(key, 0) + n
    return LatencySketch(count=a.count + b.count, sum_seconds=a.sum_seconds + b.sum_seconds,
                         buckets=buckets)


def quantile(sketch: LatencySketch, q: float) -> float | None:
    """The ``q``-quantile (0 < q <= 1) of the durations, None when there are none.

    The rank is the nearest rank, ``ceil(q * count)``, as for exact percentiles.
    """
    if sketch.count == 0:
        return None
    rank = max(1, math.ceil(q * sketch.count))
    seen = 0
    for bucket in sorted(int(k) for k in sketch.buckets):
        seen += sketch.buckets[str(bucket)]
        if seen >= rank:
            return middle_of(bucket)
    return middle_of(max(int(k) for k in sketch.buckets))
