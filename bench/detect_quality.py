"""NAB scores of every registered detector on the seeded synthetic corpus, in one run.

Prints, per detector, the three normalised NAB profiles (standard, reward_low_FP_rate,
reward_low_FN_rate), the margin over the reference (river's HalfSpaceTrees with default
parameters after MinMaxScaler) and the throughput of the evaluation run. With ``--corpus``
it scores an existing NAB-layout corpus instead (for example NAB's own data).

    PYTHONPATH=operator python bench/detect_quality.py [--seed 0] [--files 4]
        [--intensity 1.0] [--corpus DIR] [--detectors robust,seasonal,hst_window,hst]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kubeheal.detect import DETECTORS
from kubeheal.detect.corpus import evaluate, read_corpus
from kubeheal.detect.nab import PROFILES
from kubeheal.detect.synthetic import generate_corpus


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
    evaluations = {name: evaluate(name, corpus)[0] for name in names}
    reference = evaluations["hst"]
    header = "".join(f"{p:>20}" for p in PROFILES)
    print(f"{'detector':<12}{header}{'points/s':>12}{'x hst':>8}")
    for name, ev in evaluations.items():
        cells = ""
        for p in PROFILES:
            score = ev.results[p].normalized
            cells += f"{score:9.2f} ({score - reference.results[p].normalized:+6.1f})"
        ratio = ev.points_per_second / reference.points_per_second
        print(f"{name:<12}{cells}{ev.points_per_second:12,.0f}{ratio:8.1f}")
    print("(in parentheses: margin over hst, in NAB points)")


if __name__ == "__main__":
    main()
