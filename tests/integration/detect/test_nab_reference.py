"""On real labelled data (nab-dev): the scorer against NAB's published scores, every detector,
the operator's alarms.

``../shared/data/nab-dev/results/numenta/`` holds NAB's results files of the HTM detector for
the 31 dev files; NAB's scorer gives them 71.21 / 64.99 / 75.87 (standard /
reward_low_FP_rate / reward_low_FN_rate) with one threshold per profile over the 31 files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kubeheal.api.runbook import DetectionSettings
from kubeheal.detect import DETECTORS
from kubeheal.detect.corpus import evaluate_alarms, read_corpus
from kubeheal.detect.nab import LabeledScores, score_corpus
from kubeheal.detect.synthetic import LabeledSeries

NAB_DEV = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nab-dev"
PUBLISHED = {"standard": 71.21, "reward_low_FP_rate": 64.99, "reward_low_FN_rate": 75.87}


@pytest.fixture(scope="module")
def htm_results() -> list[LabeledScores]:
    if not (NAB_DEV / "results" / "numenta").is_dir():
        pytest.skip(f"NAB dev corpus not found at {NAB_DEV} (expected ../shared/data/nab-dev)")
    corpus = read_corpus(NAB_DEV)
    files = []
    for relative, series in corpus.items():
        category, name = relative.split("/", 1)
        path = NAB_DEV / "results" / "numenta" / category / f"numenta_{name}"
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(series.values), relative
        labels = np.zeros(len(rows), dtype=np.int64)
        for first, last in series.windows:
            labels[first : last + 1] = 1
        # Our reading of the windows marks the very rows NAB's results file labels.
        assert [int(r["label"]) for r in rows] == labels.tolist(), relative
        scores = [float(r["anomaly_score"]) for r in rows]
        files.append(LabeledScores(relative, scores, series.windows))
    assert len(files) == 31
    return files


def test_htm_results_score_as_nab_publishes(htm_results: list[LabeledScores]) -> None:
    results = score_corpus(htm_results)
    assert {name: round(r.normalized, 2) for name, r in results.items()} == PUBLISHED


@pytest.fixture(scope="module")
def nab_dev() -> dict[str, LabeledSeries]:
    if not (NAB_DEV / "data").is_dir():
        pytest.skip(f"NAB dev corpus not found at {NAB_DEV} (expected ../shared/data/nab-dev)")
    return read_corpus(NAB_DEV)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_runs_every_nab_dev_file(
    name: str, nab_dev: dict[str, LabeledSeries]
) -> None:
    for key, series in nab_dev.items():
        detector = DETECTORS[name].stream()
        probabilities = np.asarray(
            [
                detector.update(float(t), float(v)).probability
                for t, v in zip(series.timestamps, series.values, strict=True)
            ]
        )
        assert np.all((probabilities >= 0.0) & (probabilities <= 1.0)), key
        if name != "hst":  # the reference reports river's scores as they are
            # Never exactly 1: a stronger deviation must still be able to score higher.
            assert not np.any(probabilities == 1.0), key


def test_the_operators_alarms_at_the_default_settings_reach_65_standard(
    nab_dev: dict[str, LabeledSeries],
) -> None:
    """What ``kubeheal eval --alarms`` measures: binary incident onsets of the alarm path the
    live loop runs, at the Runbook's default detection settings, scored as NAB detections."""
    evaluation, onsets = evaluate_alarms(nab_dev, DetectionSettings())
    assert all(set(np.unique(o)) <= {0.0, 1.0} for o in onsets.values())
    assert evaluation.results["standard"].normalized >= 65.0, evaluation.lines()
