"""The synthetic corpus, NAB-layout files and ``kubeheal eval`` end to end, on a small corpus."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kubeheal.cli import main
from kubeheal.detect.corpus import evaluate, read_corpus, write_corpus
from kubeheal.detect.nab import probationary_length
from kubeheal.detect.synthetic import CATEGORIES, generate_corpus


def test_generator_is_seeded_and_labels_windows_after_probation() -> None:
    first = generate_corpus(seed=4, files_per_category=1, rows=1500)
    second = generate_corpus(seed=4, files_per_category=1, rows=1500)
    other = generate_corpus(seed=5, files_per_category=1, rows=1500)
    assert {key.split("/")[0] for key in first} == set(CATEGORIES)
    for key, series in first.items():
        np.testing.assert_array_equal(series.values, second[key].values)
        assert series.windows == second[key].windows
        assert np.all(np.isfinite(series.values))
        for a, b in series.windows:
            assert probationary_length(1500) <= a <= b < 1500
        assert bool(series.windows) == (not key.startswith("clean/"))
    assert any(not np.array_equal(first[k].values, other[k].values) for k in first)


def test_corpus_files_round_trip(tmp_path: Path) -> None:
    corpus = generate_corpus(seed=1, files_per_category=1, rows=600)
    write_corpus(tmp_path, corpus)
    labels = json.loads((tmp_path / "labels" / "combined_windows.json").read_text())
    assert set(labels) == set(corpus)
    back = read_corpus(tmp_path)
    assert set(back) == set(corpus)
    for key, series in corpus.items():
        np.testing.assert_array_equal(back[key].timestamps, series.timestamps)
        np.testing.assert_array_equal(back[key].values, series.values)
        assert back[key].windows == series.windows


def test_eval_prints_three_scores_and_writes_nab_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus_dir = tmp_path / "corpus"
    write_corpus(corpus_dir, generate_corpus(seed=2, files_per_category=1, rows=800))
    out = tmp_path / "results"
    code = main(
        ["eval", "--corpus", str(corpus_dir), "--detector", "novelty", "--results", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate", "points/s"):
        assert profile in printed
    written = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.csv"))
    assert any(w.startswith("spikes/novelty_") for w in written)
    assert len(written) == len(CATEGORIES)
    with (out / written[0]).open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)


def test_results_files_reproduce_the_printed_figures(tmp_path: Path) -> None:
    corpus = generate_corpus(seed=3, files_per_category=1, rows=800)
    evaluation, scores = evaluate("novelty", corpus)
    write_corpus(tmp_path, corpus)
    again, _ = evaluate("novelty", read_corpus(tmp_path))
    for profile, result in evaluation.results.items():
        assert again.results[profile].normalized == pytest.approx(result.normalized)
    assert set(scores) == set(corpus)
