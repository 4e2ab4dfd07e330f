"""NAB scores of every registered detector on a NAB-layout corpus (or a synthetic one), one run.

Prints, per detector, the three normalised NAB profiles (standard, reward_low_FP_rate,
reward_low_FN_rate) with the margin over the reference (river's HalfSpaceTrees with default
parameters after MinMaxScaler, run in the same process), the throughput of the evaluation run,
the standard score per category (threshold chosen on the whole corpus), and the
leave-one-category-out estimate: for each category with labelled windows, the NAB threshold
is chosen on the other categories and the held-out category is scored with it (mean and
spread over the categories). Then the operator's own path: the incident onsets at the default
detection settings (``kubeheal eval --alarms``).

    PYTHONPATH=operator python bench/detect_quality.py --corpus ../shared/data/nab-dev
    PYTHONPATH=operator python bench/detect_quality.py [--seed 0] [--files 4] [--intensity 1.0]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kubeheal.api.runbook import DetectionSettings
from kubeheal.detect import DETECTORS
from kubeheal.detect.corpus import evaluate, evaluate_alarms, read_corpus
from kubeheal.detect.nab import PROFILES, LabeledScores, score_at_threshold, score_profile
from kubeheal.detect.synthetic import LabeledSeries, generate_corpus


def category(key: str) -> str:
    return key.split("/", 1)[0]


def by_category(
    corpus: dict[str, LabeledSeries], scores: dict[str, NDArray[np.float64]], threshold: float
) -> dict[str, float]:
    """Standard score of each category at the corpus-wide threshold (windowed categories)."""
    out = {}
    for c in sorted({category(k) for k in corpus}):
        files = [LabeledScores(k, scores[k], corpus[k].windows) for k in corpus if category(k) == c]
        if any(f.windows for f in files):
            out[c] = score_at_threshold(files, PROFILES["standard"], threshold).normalized
    return out


def cross_validated(
    corpus: dict[str, LabeledSeries], scores: dict[str, NDArray[np.float64]]
) -> list[float]:
    """Held-out standard score of each windowed category, threshold chosen on the rest."""
    held_out = []
    for c in sorted({category(k) for k in corpus}):
        test = [LabeledScores(k, scores[k], corpus[k].windows) for k in corpus if category(k) == c]
        if not any(f.windows for f in test):
            continue
        train = [
            LabeledScores(k, scores[k], corpus[k].windows) for k in corpus if category(k) != c
        ]
        threshold = score_profile(train, PROFILES["standard"]).threshold
        held_out.append(score_at_threshold(test, PROFILES["standard"], threshold).normalized)
    return held_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=int, default=4, help="files per synthetic category")
    parser.add_argument(
        "--intensity", type=float, default=1.0, help="size of synthetic anomalies (0.5: harder)"
    )
    parser.add_argument("--corpus", help="score this NAB-layout corpus instead")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    args = parser.parse_args()

    if args.corpus:
        corpus = read_corpus(Path(args.corpus))
    else:
        corpus = generate_corpus(
            seed=args.seed, files_per_category=args.files, intensity=args.intensity
        )
    points = sum(len(s.values) for s in corpus.values())
    print(f"corpus: {len(corpus)} files, {points} points")
    names = args.detectors.split(",")
    if "hst" not in names:
        names.append("hst")
    runs = {name: evaluate(name, corpus) for name in names}
    reference = runs["hst"][0]
    header = "".join(f"{p:>20}" for p in PROFILES)
    print(f"{'detector':<12}{header}{'points/s':>12}{'x hst':>8}")
    for name, (ev, _) in runs.items():
        cells = ""
        for p in PROFILES:
            score = ev.results[p].normalized
            cells += f"{score:9.2f} ({score - reference.results[p].normalized:+6.1f})"
        ratio = ev.points_per_second / reference.points_per_second
        print(f"{name:<12}{cells}{ev.points_per_second:12,.0f}{ratio:8.1f}")
    print("(in parentheses: margin over hst, in NAB points)")

    print("\nstandard score per category (threshold chosen on the whole corpus)")
    tables = {
        name: by_category(corpus, scores, ev.results["standard"].threshold)
        for name, (ev, scores) in runs.items()
    }
    categories = sorted({c for table in tables.values() for c in table})
    print(f"{'detector':<12}" + "".join(f"{c[:22]:>24}" for c in categories))
    for name, table in tables.items():
        print(f"{name:<12}" + "".join(f"{table.get(c, float('nan')):24.2f}" for c in categories))

    print("\nleave-one-category-out (threshold chosen on the other categories)")
    for name, (_, scores) in runs.items():
        held = cross_validated(corpus, scores)
        if len(held) >= 2:
            print(
                f"{name:<12} standard mean {statistics.mean(held):6.2f}, "
                f"spread (stdev) {statistics.stdev(held):6.2f} over {len(held)} categories"
            )

    print("\nthe operator's alarms at the default detection settings (kubeheal eval --alarms)")
    for name in names:
        ev, _ = evaluate_alarms(corpus, DetectionSettings.model_validate({"detector": name}))
        print("\n".join(ev.lines()))


if __name__ == "__main__":
    main()
