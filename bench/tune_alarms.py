"""How the alarm path's hysteresis was chosen: leave-one-category-out over a few levels.

``kubeheal eval --alarms`` scores binary incident onsets, so there is no threshold to sweep:
what is chosen here is how far below its threshold an alarm must fall to clear
(:data:`kubeheal.detect.alarms.CLEAR_DECADES`, a fraction of the threshold's decades; 1 is no
hysteresis). For each category with labelled windows the level is chosen on the other
categories, then scored on the held-out one; the mean and spread of those held-out scores is
the estimate for unseen data. One process, the code the live loop runs.

    PYTHONPATH=operator python bench/tune_alarms.py --corpus ../shared/data/nab-dev
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kubeheal.api.runbook import DetectionSettings
from kubeheal.detect.corpus import read_corpus, run_alarms
from kubeheal.detect.nab import PROFILES, LabeledScores, score_at_threshold
from kubeheal.detect.synthetic import LabeledSeries

LEVELS = (1.0, 0.5, 0.25)


def category(key: str) -> str:
    return key.split("/", 1)[0]


def score(
    corpus: dict[str, LabeledSeries], onsets: dict[str, NDArray[np.float64]], keep: set[str]
) -> float:
    files = [LabeledScores(k, onsets[k], corpus[k].windows) for k in corpus if category(k) in keep]
    return score_at_threshold(files, PROFILES["standard"], 0.5).normalized


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="NAB-layout corpus (nab-dev)")
    args = parser.parse_args()
    corpus = read_corpus(Path(args.corpus))
    categories = {category(k) for k in corpus}
    runs = {level: run_alarms(corpus, DetectionSettings(), clear_decades=level) for level in LEVELS}
    for level, onsets in runs.items():
        dev = score(corpus, onsets, categories)
        print(f"clear below {level:.2f} of the decades: dev standard {dev:.2f}")
    held_out = []
    for held in sorted(
        c for c in categories if any(corpus[k].windows for k in corpus if category(k) == c)
    ):
        rest = categories - {held}
        best = max(LEVELS, key=lambda level: score(corpus, runs[level], rest))
        held_out.append(score(corpus, runs[best], {held}))
        print(f"held out {held:<24} chosen on the rest: {best:.2f} held-out {held_out[-1]:7.2f}")
    print(
        f"leave-one-category-out standard: mean {statistics.mean(held_out):.2f}, "
        f"spread (stdev) {statistics.stdev(held_out):.2f} over {len(held_out)} categories"
    )


if __name__ == "__main__":
    main()
