"""How the alarm path's defaults were chosen: a small grid, leave-one-category-out.

``kubeheal eval --alarms`` scores binary incident onsets, so there is no threshold to sweep:
what is chosen here are the defaults a Runbook gets,

- the rarity the default sensitivity (0.5) stands for: a point alarms when its calibrated
  probability says it is rarer than about 1 in 10^D points
  (:data:`kubeheal.api.runbook.DEFAULT_RARITY_DECADES`);
- the debounce, k anomalous ticks of the last n (``debounceK``, ``debounceN``);
- how far below its threshold an alarm must fall to clear
  (:data:`kubeheal.detect.alarms.CLEAR_DECADES`, a fraction of the threshold's decades; 1 is
  no hysteresis).

For each category with labelled windows the combination is chosen on the other categories,
then scored on the held-out one; the mean and spread of those held-out scores is the estimate
for unseen data. The dev figure is that of the combination chosen on every file.

Some settings are left out of the grid on purpose. A debounce of one tick (k = 1): one bad
scrape would open an incident. A hysteresis below 0.1: at the default threshold the clear
level would come down to the stream's usual novelty (probability 0.5), and an alarm could
last through normal times. An alarm held for many ticks after the signal is calm (NAB counts
a second alarm of one anomaly as a false positive, so longer incidents score higher):
verification waits for the alarm to clear, and recovery could not be proven within its
deadline.

The detector scores every file once (its scores do not depend on these settings); each
combination replays them through the debouncer and the incident logic of
:mod:`kubeheal.detect.corpus`, the code ``kubeheal eval --alarms`` runs. One process.

    PYTHONPATH=operator python bench/tune_alarms.py --corpus ../shared/data/nab-dev
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kubeheal.api.runbook import DetectionSettings
from kubeheal.detect.alarms import CLEAR_DECADES, clear_level
from kubeheal.detect.corpus import incident_onsets, read_corpus, signal_scores
from kubeheal.detect.debounce import KOfN
from kubeheal.detect.nab import PROFILES, LabeledScores, ProfileResult, score_at_threshold
from kubeheal.detect.synthetic import LabeledSeries

RARITY_DECADES = (2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
DEBOUNCE = ((2, 3), (3, 4), (2, 5), (3, 5))
CLEAR = (1.0, 0.5, 0.25, 0.1)

Combination = tuple[float, int, int, float]
Totals = dict[str, tuple[float, float, float]]
"""Per category: NAB's raw, null and perfect totals (they add up over files)."""
Onsets = NDArray[np.float64]


def category(key: str) -> str:
    return key.split("/", 1)[0]


def label(c: Combination) -> str:
    decades, k, n, clear = c
    return f"1 in 10^{decades:g}, {k} of {n}, clear at {clear:g}"


def by_category(corpus: dict[str, LabeledSeries], onsets: dict[str, Onsets]) -> Totals:
    """The standard profile's raw, null and perfect totals of each category."""
    out: Totals = {}
    for name in sorted({category(k) for k in corpus}):
        files = [
            LabeledScores(k, onsets[k], corpus[k].windows) for k in corpus if category(k) == name
        ]
        r = score_at_threshold(files, PROFILES["standard"], 0.5)
        out[name] = (r.raw, r.null, r.perfect)
    return out


def normalized(t: Totals, keep: set[str]) -> float:
    raw, null, perfect = (sum(t[c][i] for c in keep) for i in range(3))
    return ProfileResult("standard", 0.5, raw, null, perfect, 0, 0, 0).normalized


def profiles(corpus: dict[str, LabeledSeries], onsets: dict[str, Onsets]) -> list[float]:
    """The three profiles on every file."""
    files = [LabeledScores(k, onsets[k], corpus[k].windows) for k in corpus]
    return [score_at_threshold(files, p, 0.5).normalized for p in PROFILES.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="NAB-layout corpus (nab-dev)")
    args = parser.parse_args()
    corpus = read_corpus(Path(args.corpus))
    started = time.perf_counter()
    scores = signal_scores(corpus, DetectionSettings())
    categories = {category(k) for k in corpus}
    grid: list[Combination] = [
        (decades, k, n, clear)
        for decades, (k, n), clear in itertools.product(RARITY_DECADES, DEBOUNCE, CLEAR)
    ]
    results: dict[Combination, Totals] = {}
    dev: dict[Combination, list[float]] = {}
    print(f"{'combination':<40} {'standard':>9} {'low_FP':>8} {'low_FN':>8}")
    for c in grid:
        decades, k, n, clear = c
        threshold = 1.0 - 10.0**-decades
        onsets = incident_onsets(
            scores, lambda: KOfN(k, n, threshold, clear_level(threshold, clear))  # noqa: B023
        )
        results[c] = by_category(corpus, onsets)
        dev[c] = profiles(corpus, onsets)
        print(f"{label(c):<40} {dev[c][0]:9.2f} {dev[c][1]:8.2f} {dev[c][2]:8.2f}", flush=True)

    def standard(c: Combination, keep: set[str]) -> float:
        return normalized(results[c], keep)

    held_out = []
    for held in sorted(
        c for c in categories if any(corpus[k].windows for k in corpus if category(k) == c)
    ):
        best = max(grid, key=lambda c: standard(c, categories - {held}))
        held_out.append(standard(best, {held}))
        print(f"held out {held:<24} chosen on the rest: {label(best):<36} "
              f"held-out {held_out[-1]:7.2f}")
    print(
        f"leave-one-category-out standard: mean {statistics.mean(held_out):.2f}, "
        f"spread (stdev) {statistics.stdev(held_out):.2f} over {len(held_out)} categories"
    )
    chosen = max(grid, key=lambda c: standard(c, categories))
    figures = ", ".join(f"{p} {v:.2f}" for p, v in zip(PROFILES, dev[chosen], strict=True))
    print(f"chosen on all dev files: {label(chosen)} ({figures})")
    defaults = DetectionSettings()
    print(
        f"the defaults: threshold {defaults.probability_threshold:.6g}, "
        f"{defaults.debounce_k} of {defaults.debounce_n}, clear at {CLEAR_DECADES:g}"
    )
    print(f"{len(grid)} combinations in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
