"""A seeded generator of labeled production-like metrics, in the shape of the NAB corpus.

Each series looks like one of the signals a runbook watches (request rate, error ratio,
latency quantile, CPU, memory, queue depth): a level with daily and weekly seasonality, a
slow trend and noise (sometimes heavy-tailed or integer-valued), sampled every five minutes.
Anomalies are injected after NAB's probationary period and labeled with NAB-style windows
centred on their onset, ``0.1 * rows / anomalies`` rows wide:

=============  ========================================================================
category       anomaly
=============  ========================================================================
spikes         one to three points far above (or below) the expected value
level_shifts   a step that persists
drifts         a ramp of a few hundred points to a new level
variance       the noise grows several times for a stretch
flatlines      the metric freezes at one value (a stuck exporter)
clean          none: every detection is a false positive
=============  ========================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kubeheal.detect.nab import probationary_length

CATEGORIES = ("spikes", "level_shifts", "drifts", "variance", "flatlines", "clean")
SIGNALS = ("request_rate", "error_ratio", "latency_p99", "cpu", "memory", "queue_depth")
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
STEP = 300.0


@dataclass(frozen=True)
class LabeledSeries:
    """One labeled data file: Unix timestamps, values and inclusive anomaly windows (rows)."""

    timestamps: NDArray[np.float64]
    values: NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]


def _base(signal: str, n: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], float]:
    """A clean series of one signal type and its noise scale."""
    t = np.arange(n) * STEP
    day = np.sin(2 * math.pi * t / 86400.0 + rng.uniform(0, 2 * math.pi))
    week = np.sin(2 * math.pi * t / (7 * 86400.0) + rng.uniform(0, 2 * math.pi))
    level = float(rng.choice([1.0, 10.0, 100.0, 1000.0])) * rng.uniform(1.0, 5.0)
    seasonal = rng.uniform(0.0, 0.4) * day + rng.uniform(0.0, 0.1) * week
    trend = rng.uniform(-0.1, 0.2) * np.arange(n) / n
    shape = level * (1.0 + seasonal + trend)
    noise_level = rng.uniform(0.01, 0.05)
    if signal == "error_ratio":
        base = 0.01 * (1.0 + 0.5 * seasonal)
        sigma = 0.002
        values = np.abs(base + sigma * rng.standard_normal(n))
        return values, sigma
    if signal == "latency_p99":
        sigma = noise_level * level
        values = shape * np.exp(noise_level * rng.standard_t(4, n))
        return values, sigma
    if signal == "queue_depth":
        mean = np.maximum(shape / level * 20.0, 0.5)
        return rng.poisson(mean).astype(np.float64), float(math.sqrt(20.0))
    if signal == "memory":
        sigma = 0.01 * level
        growth = 0.2 * level * np.arange(n) / n
        return level + growth + sigma * rng.standard_normal(n), sigma
    sigma = noise_level * level
    return shape + sigma * rng.standard_normal(n), sigma


def _inject(
    category: str,
    values: NDArray[np.float64],
    sigma: float,
    onset: int,
    rng: np.random.Generator,
    intensity: float,
) -> None:
    n = len(values)
    sigma *= intensity
    sign = 1.0 if rng.random() < 0.8 else -1.0
    if category == "spikes":
        width = int(rng.integers(1, 4))
        values[onset : onset + width] += sign * rng.uniform(8.0, 20.0) * sigma
    elif category == "level_shifts":
        values[onset:] += sign * rng.uniform(5.0, 12.0) * sigma
    elif category == "drifts":
        length = int(rng.integers(100, 300))
        ramp = np.minimum(np.arange(n - onset) / length, 1.0)
        values[onset:] += sign * rng.uniform(8.0, 15.0) * sigma * ramp
    elif category == "variance":
        length = int(rng.integers(150, 400))
        end = min(onset + length, n)
        values[onset:end] += rng.uniform(4.0, 8.0) * sigma * rng.standard_normal(end - onset)
    elif category == "flatlines":
        length = int(rng.integers(150, 400))
        values[onset : min(onset + length, n)] = values[onset]


def generate_series(
    category: str, signal: str, n: int, seed: int, intensity: float = 1.0
) -> LabeledSeries:
    """One labeled series; the same arguments always give the same series.

    ``intensity`` scales the size of the anomalies (0.5 makes them half as large: harder).
    """
    rng = np.random.default_rng(seed)
    values, sigma = _base(signal, n, rng)
    count = 0 if category == "clean" else int(rng.integers(1, 4))
    if category in ("level_shifts", "drifts"):
        count = 1
    windows: list[tuple[int, int]] = []
    if count:
        width = int(0.1 * n / count)
        start = probationary_length(n) + width
        slots = np.linspace(start, n - width, count + 1)
        for k in range(count):
            low = int(slots[k])
            onset = int(rng.integers(low, max(int(slots[k + 1]) - width, low + 1)))
            _inject(category, values, sigma, onset, rng, intensity)
            windows.append((max(onset - width // 2, 0), min(onset + width // 2, n - 1)))
    if signal in ("error_ratio", "queue_depth", "request_rate", "cpu", "memory"):
        values = np.maximum(values, 0.0)
    timestamps = START + np.arange(n, dtype=np.float64) * STEP
    return LabeledSeries(timestamps, values.astype(np.float64), tuple(windows))


def generate_corpus(
    seed: int = 0, files_per_category: int = 4, rows: int = 4000, intensity: float = 1.0
) -> dict[str, LabeledSeries]:
    """A corpus keyed by NAB relative path, ``<category>/<name>.csv``.

    >>> corpus = generate_corpus(seed=1, files_per_category=1, rows=1000)
    >>> sorted(corpus)[:2]
    ['clean/queue_depth_0.csv', 'drifts/latency_p99_0.csv']
    >>> all(len(s.values) == 1000 for s in corpus.values())
    True
    """
    corpus: dict[str, LabeledSeries] = {}
    for c, category in enumerate(CATEGORIES):
        for k in range(files_per_category):
            signal = SIGNALS[(c + k) % len(SIGNALS)]
            series_seed = seed * 1_000_003 + c * 1000 + k
            corpus[f"{category}/{signal}_{k}.csv"] = generate_series(
                category, signal, rows, series_seed, intensity
            )
    return corpus
