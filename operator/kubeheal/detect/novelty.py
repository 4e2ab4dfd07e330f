"""The default detector: nearest-neighbour novelty of short windows, under a likelihood layer.

Why this model. Production metrics repeat themselves: a daily cycle, a sawtooth of a cache, a
batch job every hour. A value far from the recent mean is often just the next step of such a
pattern, so the question the model asks is not "how far is this value from the mean" but "has
this stream ever moved like this": the distance from the last ``window`` values to the nearest
of the windows that ended ``window .. window + lags - 1`` points ago, in units of the stream's
typical step (the mean absolute difference of consecutive values, Huber-clipped and
exponentially weighted, like every scale here).

Raw distances of different streams are not comparable (a spiky stream is always far from its
neighbours), so a *likelihood layer* turns them into one scale, after NAB's anomaly
likelihood: the recent mean of ``log(1 + distance)`` (exponentially weighted, about a dozen
points) is compared with the long-run mean and standard deviation of that recent mean
(memory about ``1 / long_fading`` points; an incident is winsorized before it is learned so
that it does not become the norm). Like NAB's, the spread is the recent mean's, smaller than
the raw novelty's: a lasting rise stands out a few points sooner than it would against the
spread of single points. The result ``z`` is how many standard deviations the
recent novelty is above its usual level; the anomaly probability is the Gaussian tail of
``z`` (``1 - P(Z > z)``), which the explanation reads as "about 1 in N points".

Probabilities are never exactly 1: beyond 8 decades (``1 - 1e-8``) the decades are
compressed smoothly towards 15, so a stronger deviation always scores higher and a threshold
can separate two extreme points.

Alarms repeat: one incident keeps the novelty high for a while. The operator opens one
incident per workload and ignores repeated alarms while it is open; the model reports the
same thing as its ``onset`` score: the probability of a point that *starts* an anomaly, with
every point within ``refractory`` points after one whose ``z`` reached ``onset_z`` scored 0.
``kubeheal eval`` scores the onset score with NAB (NAB rewards the first detection of a
window and counts every later one as a false positive); debouncing and alarms use the
probability itself.

Learning can be held (``update(value, learn=False)``), while an incident is open on the
stream's workload: the point is scored against what the model knew before the hold, and
nothing it learned moves (history of values and window sums, level, scales, the long-run mean
and variance of the likelihood layer, the counts). Only what describes the present goes on:
the last ``window`` values (those before the hold followed by the held ones) are the window
that is compared with the candidate windows of the last learned point, and the recent mean of
the novelty and the onset's refractory count advance. A lasting fault thus stays as far from
normal as it was when it started, and recovery shows as a return to the old normal. When
learning resumes, the last ``window`` held values join the history (not the likelihood layer)
before the new point, so that its window is made of the stream's last values, and the recent
mean of the novelty restarts from its long-run mean (the closed incident is not carried over).

The arithmetic of the window distances is float32 (it is the bulk of the state), with the
values stored relative to a per-stream offset that is refreshed, with exact sums, every
``refresh`` points; everything else is float64. :class:`NoveltyModel` is the per-stream
reference; :class:`kubeheal.detect.bank.DetectorBank` computes the same numbers for many
streams at once (a test checks that they agree).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

MAD_TO_STD = math.sqrt(math.pi / 2.0)
"""Ratio of the standard deviation to the mean absolute deviation of a normal distribution."""

_LN10 = math.log(10.0)
VALUE_RANGE = 1e18
"""Values are kept within this of the stream's offset in float32 (squares stay finite)."""


@dataclass(frozen=True)
class NoveltyConfig:
    """The one parameter set of the default detector, for every stream.

    Chosen by ``bench/tune_detector.py`` (leave-one-category-out cross-validation on nab-dev);
    bump :data:`PARAMETER_VERSION` whenever a default changes.
    """

    window: int = 6
    """Points per window compared by the nearest-neighbour search."""
    lags: int = 300
    """Candidate windows: those that ended ``window .. window + lags - 1`` points ago."""
    level_fading: float = 0.05
    """Fading factor of the level (for the explanation's robust z of the value)."""
    scale_fading: float = 0.01
    """Fading factor of the mean absolute step and of the mean absolute deviation."""
    huber: float = 3.0
    """Steps and deviations are clipped at this many scales before they are learned."""
    min_scale: float = 1e-9
    """Absolute floor of the scales, in the unit of the values."""
    relative_min_scale: float = 1e-4
    """Floor of the scales relative to the level's magnitude."""
    model_warmup: int = 30
    """Points learned with plain (unclipped, ``1/n``-weighted) scale updates."""
    short_fading: float = 0.15
    """Fading factor of the recent mean of the novelty (about 2 / (points + 1))."""
    long_fading: float = 0.0005
    """Fading factor of the long-run mean and variance of the novelty (``1/n`` while young)."""
    winsor: float = 4.0
    """Novelty is learned at most this many standard deviations above its long-run mean."""
    min_std: float = 0.05
    """Floor of the long-run standard deviation of ``log(1 + distance)``."""
    raw_cap: float = 1e12
    """Distances (in steps) are capped here before the logarithm: keeps inf out."""
    onset_z: float = 4.0
    """A point whose likelihood z reaches this starts an anomaly (see ``refractory``)."""
    refractory: int = 200
    """Points after an onset whose onset score is 0."""
    learn_short: bool = True
    """Learn the long-run mean and variance of the recent mean (NAB's way), not of the raw
    novelty: its smaller spread makes a lasting rise stand out sooner."""
    refresh: int = 256
    """Every this many points the window sums are recomputed exactly, around a new offset."""
    warmup: int = 150
    """Points learned before the detector reports scores."""

    @property
    def history(self) -> int:
        """Values kept per stream."""
        return self.lags + 2 * self.window

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


PARAMETER_VERSION = "novelty-2"
"""Names the default parameters; a Remediation's evidence can name the model that scored."""


def z_probability(z: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """The anomaly probability of a likelihood ``z``: ``1 - P(Z > z)``, never exactly 1.

    Up to 8 decades of rarity it is the Gaussian tail; beyond, the decades ``d`` become
    ``8 + 7 e / (1 + e)`` with ``e = log(1 + (d - 8) / 8)``: below 15 decades for any z, and
    far enough apart that float64 keeps the order of extreme points.

    >>> [round(float(z_probability(z)), 5) for z in (0.0, 2.0, 3.0)]
    [0.5, 0.97725, 0.99865]
    >>> p = z_probability(np.array([6.0, 10.0, 20.0, 40.0, 80.0]))
    >>> bool(np.all(np.diff(p) > 0)), bool(np.all(p < 1.0))
    (True, True)
    """
    decades = -np.asarray(special.log_ndtr(-np.asarray(z, dtype=np.float64))) / _LN10
    excess = np.log1p(np.maximum(decades - 8.0, 0.0) / 8.0)
    compressed = np.where(decades > 8.0, 8.0 + 7.0 * excess / (1.0 + excess), decades)
    return np.asarray(-np.expm1(-compressed * _LN10), dtype=np.float64)


class NoveltyModel:
    """One stream of the default detector (the bank's reference, point by point).

    ``update(value)`` scores the value, then learns it, and returns ``(expected, z,
    probability, onset, ready)``: the value that followed the nearest past window, the
    likelihood z, its probability, the onset score and whether the model is warm.

    >>> import random
    >>> rng = random.Random(3)
    >>> model = NoveltyModel()
    >>> for i in range(600):
    ...     _ = model.update(10.0 + 3.0 * math.sin(i / 10.0) + rng.gauss(0.0, 0.2))
    >>> calm = model.update(10.0 + 3.0 * math.sin(600 / 10.0))
    >>> shift = [model.update(25.0) for _ in range(4)]
    >>> calm[2] < 0.99, shift[0][2] > calm[2], shift[-1][2] > 0.999
    (True, True, True)
    """

    def __init__(self, config: NoveltyConfig | None = None) -> None:
        self.config = c = config if config is not None else NoveltyConfig()
        self.n = 0
        self.level = 0.0
        self.deviation = 0.0
        self.step = 0.0
        self.last = 0.0
        self.offset = 0.0
        self.values = np.zeros(c.history, dtype=np.float32)
        self.sums = np.zeros(c.lags, dtype=np.float32)
        self.short = 0.0
        self.mean = 0.0
        self.var = 0.0
        self.learned = 0
        self.quiet = 0
        self.warmup = c.warmup
        """Points learned before the model scores (the detector may set another)."""
        self.z_value = 0.0
        """Robust z of the last value against the level (for explanations)."""
        self.held: list[float] = []
        """The last values scored while learning was held (at most ``window``)."""

    def _scales(self) -> tuple[float, float]:
        c = self.config
        floor = max(c.min_scale, c.relative_min_scale * abs(self.level))
        return max(self.deviation * MAD_TO_STD, floor), max(self.step * MAD_TO_STD, floor)

    def _recentre(self, value: float) -> None:
        """New offset ``value``; the window sums recomputed exactly from the kept values."""
        c = self.config
        w, h = c.window, c.history
        shifted = self.values.astype(np.float64) + (self.offset - value)
        self.values = np.clip(shifted, -VALUE_RANGE, VALUE_RANGE).astype(np.float32)
        self.offset = value
        sums = np.zeros(c.lags, dtype=np.float32)
        for k in range(w):
            end = h - k
            diff = self.values[end - 1] - self.values[h - c.lags - w - k : end - w]
            sums += diff * diff
        self.sums = sums

    def _likelihood(
        self, raw: float, short: float, mean: float, var: float
    ) -> tuple[float, float, float, float]:
        """The z of ``raw``'s recent mean against its long run, and the layer's new state."""
        c = self.config
        first = self.learned == 0
        short = raw if first else short + c.short_fading * (raw - short)
        std = max(math.sqrt(max(var, 0.0)), c.min_std)
        z = 0.0 if first else (short - mean) / std
        # Learn it, winsorized: an incident does not become the norm.
        learn = short if c.learn_short else raw
        winsorized = learn if first else min(learn, mean + c.winsor * std)
        rate = max(c.long_fading, 1.0 / (self.learned + 1))
        diff = winsorized - mean
        increment = rate * diff
        if first:
            return z, short, winsorized, 0.0
        return z, short, mean + increment, (1.0 - rate) * (var + diff * increment)

    def _onset(self, probability: float, z: float, ready: bool) -> float:
        """The onset score of a point, counting down the refractory points."""
        if self.quiet > 0:
            self.quiet -= 1
            return 0.0
        if ready and z >= self.config.onset_z:
            self.quiet = self.config.refractory
        return probability

    def _score_held(self, value: float) -> tuple[float, float, float, float, bool]:
        """Score ``value`` against the model as it was when learning was held."""
        c = self.config
        w, h, lags = c.window, c.history, c.lags
        self.held = [*self.held, value][-w:]
        value_sigma, step_sigma = self._scales()
        self.z_value = abs(value - self.level) / value_sigma
        valid = min(max(self.n - 2 * w + 1, 0), lags)  # the last learned point's candidates
        if valid == 0:
            return value, 0.0, 0.0, self._onset(0.0, 0.0, False), False
        held = np.clip(np.asarray(self.held) - self.offset, -VALUE_RANGE, VALUE_RANGE)
        current = np.concatenate([self.values[h - w + len(held) :], held.astype(np.float32)])
        # Candidate i ends w + lags - 1 - i points before the last learned value.
        windows = np.lib.stride_tricks.sliding_window_view(self.values[: h - w], w)[1:]
        low = lags - valid
        sums = np.zeros(valid, dtype=np.float32)
        for k in range(w):  # in this order, as the bank does
            gap = windows[low:, k] - current[k]
            sums += gap * gap
        j = int(np.argmin(sums)) + low
        distance = math.sqrt(float(sums[j - low]) / w) / step_sigma
        expected = float(self.values[j + h - w - lags]) + self.offset
        raw = float(np.log1p(min(distance, c.raw_cap)))
        std = max(math.sqrt(max(self.var, 0.0)), c.min_std)
        # Bounded like what is learned (``winsor``): the alarm holds while the fault lasts,
        # and a recovery shows within a few points instead of waiting for an extreme to fade.
        self.short = min(self.short + c.short_fading * (raw - self.short),
                         self.mean + c.winsor * std)
        z = (self.short - self.mean) / std
        ready = self.n >= self.warmup
        probability = float(z_probability(z)) if ready else 0.0
        return expected, z, probability, self._onset(probability, z, ready), ready

    def _push(self, value: float) -> int:
        """Append ``value``, the ``n``-th, to the history and update the window sums; returns
        how many candidate windows are valid."""
        c = self.config
        w, h, lags = c.window, c.history, c.lags
        n = self.n
        x = np.float32(min(max(value - self.offset, -VALUE_RANGE), VALUE_RANGE))
        values = self.values
        values[:-1] = values[1:]
        values[-1] = x
        # Only the lags with a full window on both sides are kept up to date: the others
        # are computed exactly on the point they become valid (cheaper while warming up).
        before = min(max(n - 2 * w + 1, 0), lags)
        valid = min(max(n - 2 * w + 2, 0), lags)
        low = lags - before
        if before > 0:
            new = x - values[h - w - lags + low : h - w]
            old = values[h - 1 - w] - values[h - 2 * w - lags + low : h - 2 * w]
            self.sums[low:] = np.maximum(self.sums[low:] + new * new - old * old, np.float32(0))
        if valid > before:
            lag = w + valid - 1
            total = np.float32(0.0)
            for k in range(w):
                diff = values[h - 1 - k] - values[h - 1 - k - lag]
                total += diff * diff
            self.sums[lags - valid] = total
        if (n + 1) % c.refresh == 0:
            self._recentre(value)
        return valid

    def update(self, value: float, learn: bool = True) -> tuple[float, float, float, float, bool]:
        """Score ``value``, then learn it (unless ``learn`` is false: see the module)."""
        if not learn:
            return self._score_held(value)
        if self.held:
            # Learning resumes (the incident closed): the last held values join the history
            # first, so that the current window is the stream's last values, not a jump over
            # the held ones; and the incident's novelty is not carried over.
            for held in self.held if self.n > 0 else ():
                self._push(held)
                self.n += 1
                self.last = held
            self.held = []
            self.short = self.mean
        c = self.config
        w, h, lags = c.window, c.history, c.lags
        n = self.n
        if n == 0:
            self.level = self.last = self.offset = value
        value_sigma, step_sigma = self._scales()
        residual = value - self.level
        step = value - self.last
        self.z_value = abs(residual) / value_sigma
        valid = self._push(value)
        values = self.values
        expected = value
        z = 0.0
        probability = 0.0
        ready = False
        if valid > 0:
            j = int(np.argmin(self.sums[lags - valid :])) + lags - valid
            distance = math.sqrt(float(self.sums[j]) / w) / step_sigma
            expected = float(values[j + h - w - lags]) + self.offset
            raw = float(np.log1p(min(distance, c.raw_cap)))
            z, self.short, self.mean, self.var = self._likelihood(
                raw, self.short, self.mean, self.var
            )
            ready = n >= self.warmup
            if ready:
                probability = float(z_probability(z))
            self.learned += 1
        onset = self._onset(probability, z, ready)

        # Learn the level and the scales.
        n1 = n + 1
        if n > 0:
            level_rate = max(c.level_fading, 1.0 / n1)
            scale_rate = max(c.scale_fading, 1.0 / n)
            if n1 > c.model_warmup:
                bound, step_bound = c.huber * value_sigma, c.huber * step_sigma
                self.level += level_rate * min(max(residual, -bound), bound)
                self.deviation += scale_rate * (min(abs(residual), bound) - self.deviation)
                self.step += scale_rate * (min(abs(step), step_bound) - self.step)
            else:
                self.level += level_rate * residual
                self.deviation += scale_rate * (abs(residual) - self.deviation)
                self.step += scale_rate * (abs(step) - self.step)
        self.last = value
        self.n = n1
        return expected, z, probability, onset, ready
