"""NAB-layout corpora on disk, running detectors over them, and the ``kubeheal eval`` command.

The only module of :mod:`kubeheal.detect` that touches files. A corpus directory holds
``data/<category>/<name>.csv`` (columns ``timestamp,value``) and
``labels/combined_windows.json`` (``{"<category>/<name>.csv": [[start, end], ...]}``), with
timestamps written ``YYYY-MM-DD HH:MM:SS`` in UTC, like NAB's.

``kubeheal eval --corpus DIR --detector NAME [--results OUT]`` prints the three normalised
NAB scores of the detector's onset scores (NAB sweeps the threshold) and the throughput; with
``--results`` it writes NAB's results layout, ``OUT/<category>/<detector>_<name>.csv`` with
``timestamp,value,anomaly_score,label``.

``kubeheal eval --alarms`` scores what the operator would do instead: every file is one signal
of a Runbook with the default detection settings (or ``--sensitivity``) and bad direction
``both``, run through :class:`~kubeheal.detect.runbook.RunbookStreams`, the engine the live
loop runs (the runbook's streams in one bank, direction, k-of-n debounce, fusion): the eval
is one more driver of it. A detection is the onset of an incident: an alarm while no incident
is open and the cooldown since the last one has passed; the incident stays open while the
alarm lasts. The binary onsets are scored as NAB detections (no threshold to sweep). The
detector's scores (:func:`signal_scores`) do not depend on the debounce, so
``bench/tune_alarms.py`` replays them through :func:`incident_onsets` for each setting (a
test checks that both give the same onsets).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kubeheal.api.runbook import DetectionSettings, Guardrails, Signal
from kubeheal.detect.alarms import new_detector, score_point, workload_alarm
from kubeheal.detect.debounce import KOfN
from kubeheal.detect.nab import PROFILES, LabeledScores, ProfileResult, score_corpus
from kubeheal.detect.registry import DEFAULT_DETECTOR, DETECTORS
from kubeheal.detect.runbook import RunbookStreams
from kubeheal.detect.synthetic import LabeledSeries, generate_corpus
from kubeheal.detect.values import AnomalyScore

_FORMAT = "%Y-%m-%d %H:%M:%S"
_SIGNAL = Signal(name="value", query="value", bad_direction="both")
"""Each file of ``kubeheal eval --alarms`` is this signal of a Runbook."""


def format_time(timestamp: float) -> str:
    """NAB's timestamp text of a Unix timestamp (UTC)."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime(_FORMAT)


def parse_time(text: str) -> float:
    """Unix timestamp of NAB's timestamp text (naive times are UTC).

    >>> parse_time("2026-01-01 00:05:00.000000") - parse_time("2026-01-01 00:00:00")
    300.0
    """
    moment = dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def write_corpus(root: Path, corpus: dict[str, LabeledSeries]) -> None:
    """Write ``corpus`` (keyed by ``<category>/<name>.csv``) in NAB's layout under ``root``."""
    labels: dict[str, list[list[str]]] = {}
    for relative, series in sorted(corpus.items()):
        path = root / "data" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "value"])
            for t, v in zip(series.timestamps, series.values, strict=True):
                writer.writerow([format_time(float(t)), repr(float(v))])
        labels[relative] = [
            [
                format_time(float(series.timestamps[a])) + ".000000",
                format_time(float(series.timestamps[b])) + ".000000",
            ]
            for a, b in series.windows
        ]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels, indent=2) + "\n")


def read_corpus(root: Path) -> dict[str, LabeledSeries]:
    """Read a NAB-layout corpus; windows become inclusive row ranges."""
    labels: dict[str, list[list[str]]] = json.loads(
        (root / "labels" / "combined_windows.json").read_text()
    )
    corpus: dict[str, LabeledSeries] = {}
    data = root / "data"
    for path in sorted(data.glob("*/*.csv")):
        relative = path.relative_to(data).as_posix()
        times: list[float] = []
        values: list[float] = []
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                times.append(parse_time(row["timestamp"]))
                try:
                    values.append(float(row["value"]))
                except ValueError:
                    values.append(math.nan)
        t = np.asarray(times, dtype=np.float64)
        windows = []
        for start, end in labels.get(relative, []):
            first = int(np.searchsorted(t, parse_time(start), side="left"))
            last = int(np.searchsorted(t, parse_time(end), side="right")) - 1
            if first <= last:
                windows.append((first, last))
        corpus[relative] = LabeledSeries(t, np.asarray(values, dtype=np.float64), tuple(windows))
    return corpus


def run_detector(name: str, corpus: dict[str, LabeledSeries]) -> dict[str, NDArray[np.float64]]:
    """Onset scores of detector ``name`` for every file of ``corpus`` (what NAB scores).

    A detector with a bank runs every file as one stream of the same bank, tick by tick.
    """
    spec = DETECTORS[name]
    keys = list(corpus)
    if spec.bank is not None:
        bank = spec.bank()
        rows = bank.add_streams(keys)
        length = max((len(s.values) for s in corpus.values()), default=0)
        times = np.full((len(keys), length), np.nan)
        values = np.full((len(keys), length), np.nan)
        for k, key in enumerate(keys):
            n = len(corpus[key].values)
            times[k, :n] = corpus[key].timestamps
            values[k, :n] = corpus[key].values
        scores = np.zeros((len(keys), length))
        for column in range(length):
            present = ~np.isnan(times[:, column])
            result = bank.score_and_learn(
                rows[present], times[present, column], values[present, column]
            )
            scores[present, column] = result.onset
        return {key: scores[k, : len(corpus[key].values)] for k, key in enumerate(keys)}
    out: dict[str, NDArray[np.float64]] = {}
    for key in keys:
        detector = spec.stream()
        series = corpus[key]
        out[key] = np.asarray(
            [
                detector.update(float(t), float(v)).onset_probability
                for t, v in zip(series.timestamps, series.values, strict=True)
            ],
            dtype=np.float64,
        )
    return out


def signal_scores(
    corpus: dict[str, LabeledSeries], detection: DetectionSettings
) -> dict[str, list[AnomalyScore]]:
    """Every file of ``corpus`` scored as one signal of a Runbook (bad direction ``both``),
    before debounce."""
    out: dict[str, list[AnomalyScore]] = {}
    for key, series in corpus.items():
        detector, _ = new_detector(detection)
        out[key] = [
            score_point(detector, _SIGNAL, float(t), float(v))
            for t, v in zip(series.timestamps, series.values, strict=True)
        ]
    return out


def incident_onsets(
    scores: dict[str, list[AnomalyScore]],
    debouncer: Callable[[], KOfN],
    cooldown_seconds: float = float(Guardrails().cooldown_seconds),
) -> dict[str, NDArray[np.float64]]:
    """Incident onsets (1.0, else 0.0) the operator would raise on each file's ``scores``,
    debounced by a fresh ``debouncer()`` per file."""
    roles = {_SIGNAL.name: _SIGNAL.role}
    out: dict[str, NDArray[np.float64]] = {}
    for key, points in scores.items():
        kofn = debouncer()
        onsets = np.zeros(len(points))
        open_incident = False
        closed_at = -math.inf
        for i, score in enumerate(points):
            _, alarm = workload_alarm(key, {_SIGNAL.name: kofn.update(score)}, roles)
            if alarm and not open_incident and score.timestamp - closed_at >= cooldown_seconds:
                onsets[i] = 1.0
                open_incident = True
            elif not alarm and open_incident:
                open_incident = False
                closed_at = score.timestamp
        out[key] = onsets
    return out


def run_alarms(
    corpus: dict[str, LabeledSeries],
    detection: DetectionSettings,
    cooldown_seconds: float = float(Guardrails().cooldown_seconds),
) -> dict[str, NDArray[np.float64]]:
    """Incident onsets (1.0, else 0.0) the operator would raise on every file of ``corpus``.

    The operator's own engine drives it: every file is a workload of one
    :class:`~kubeheal.detect.runbook.RunbookStreams` (the default detector's streams in one
    bank), and tick ``i`` gives each file its ``i``-th point, as an evaluation gives every
    workload its point; a workload's incident opens on an alarm, as :func:`incident_onsets`
    says.
    """
    keys = list(corpus)
    streams = RunbookStreams("eval", "nab", detection)
    streams.add(streams.warm(_SIGNAL.name, keys, {}))
    onsets = {key: np.zeros(len(corpus[key].values)) for key in keys}
    open_incident = dict.fromkeys(keys, False)
    closed_at = dict.fromkeys(keys, -math.inf)
    columns = {key: (corpus[key].timestamps.tolist(), corpus[key].values.tolist()) for key in keys}
    for i in range(max((len(series.values) for series in corpus.values()), default=0)):
        points = {key: (columns[key][0][i], columns[key][1][i])
                  for key in keys if i < len(columns[key][0])}
        verdicts = streams.observe([_SIGNAL], {_SIGNAL.name: points})
        for key in [k for k, is_open in open_incident.items() if is_open]:
            verdict = verdicts.get(key)
            if verdict is not None and not verdict.alarm:
                open_incident[key] = False
                closed_at[key] = points[key][0]
        for verdict in verdicts.alarms:
            key, moment = verdict.workload, points[verdict.workload][0]
            if not open_incident[key] and moment - closed_at[key] >= cooldown_seconds:
                onsets[key][i] = 1.0
                open_incident[key] = True
    return onsets


@dataclass(frozen=True)
class Evaluation:
    """NAB results of one detector on one corpus, and its throughput."""

    detector: str
    results: dict[str, ProfileResult]
    points: int
    seconds: float

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else math.inf

    def lines(self) -> list[str]:
        """Human-readable report, one line per profile plus the throughput."""
        out = [f"{self.detector}"]
        for name in PROFILES:
            r = self.results[name]
            out.append(
                f"  {name:<20} {r.normalized:7.2f}  (threshold {r.threshold:.6g}, "
                f"tp {r.true_positives}, fp {r.false_positives}, fn {r.false_negatives})"
            )
        out.append(f"  throughput {self.points_per_second:,.0f} points/s over {self.points} points")
        return out


def _timed_evaluation(
    label: str, corpus: dict[str, LabeledSeries],
    run: Callable[[], dict[str, NDArray[np.float64]]],
) -> tuple[Evaluation, dict[str, NDArray[np.float64]]]:
    """Time ``run`` (scores per file of ``corpus``) and score its output with NAB's profiles."""
    started = time.perf_counter()
    scores = run()
    seconds = time.perf_counter() - started
    files = [LabeledScores(key, scores[key], corpus[key].windows) for key in corpus]
    points = sum(len(s.values) for s in corpus.values())
    return Evaluation(label, score_corpus(files), points, seconds), scores


def evaluate(
    name: str, corpus: dict[str, LabeledSeries]
) -> tuple[Evaluation, dict[str, NDArray[np.float64]]]:
    """Run detector ``name`` over ``corpus`` and score it with NAB's three profiles."""
    return _timed_evaluation(f"detector {name}", corpus, lambda: run_detector(name, corpus))


def evaluate_alarms(
    corpus: dict[str, LabeledSeries], detection: DetectionSettings
) -> tuple[Evaluation, dict[str, NDArray[np.float64]]]:
    """Run the operator's alarm path over ``corpus`` and score its onsets with NAB."""
    label = (
        f"alarms of detector {detection.detector} (sensitivity {detection.sensitivity}, "
        f"debounce {detection.debounce_k} of {detection.debounce_n}, bad direction both)"
    )
    return _timed_evaluation(label, corpus, lambda: run_alarms(corpus, detection))


def write_results(
    out: Path, detector: str, corpus: dict[str, LabeledSeries], scores: dict[str, Any]
) -> None:
    """Write NAB's results layout: ``out/<category>/<detector>_<name>.csv``."""
    for relative, series in corpus.items():
        category, filename = relative.split("/", 1)
        path = out / category / f"{detector}_{filename}"
        path.parent.mkdir(parents=True, exist_ok=True)
        label = np.zeros(len(series.values), dtype=np.int64)
        for first, last in series.windows:
            label[first : last + 1] = 1
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for t, v, s, lab in zip(
                series.timestamps, series.values, scores[relative], label, strict=True
            ):
                writer.writerow([format_time(float(t)), repr(float(v)), repr(float(s)), int(lab)])


def _eval_command(args: argparse.Namespace) -> int:
    corpus_dir = Path(args.corpus)
    if args.generate:
        write_corpus(corpus_dir, generate_corpus(seed=args.seed))
    corpus = read_corpus(corpus_dir)
    if not corpus:
        print(f"no data files under {corpus_dir / 'data'}")
        return 2
    if args.alarms:
        detection = DetectionSettings.model_validate(
            {"detector": args.detector, "sensitivity": args.sensitivity}
        )
        evaluation, scores = evaluate_alarms(corpus, detection)
    else:
        evaluation, scores = evaluate(args.detector, corpus)
    print("\n".join(evaluation.lines()))
    if args.results:
        write_results(Path(args.results), args.detector, corpus, scores)
    return 0


def add_eval_command(subparsers: Any) -> None:
    """Register ``eval`` on an ``argparse`` subparsers object (from ``add_subparsers()``)."""
    parser = subparsers.add_parser(
        "eval", help="score a detector on a NAB-layout corpus with NAB's three profiles"
    )
    parser.add_argument("--corpus", required=True, help="directory with data/ and labels/")
    parser.add_argument(
        "--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS), help="detector name"
    )
    parser.add_argument(
        "--alarms",
        action="store_true",
        help="score the incident onsets the operator would raise (direction, debounce, fusion)",
    )
    parser.add_argument(
        "--sensitivity",
        type=float,
        default=DetectionSettings().sensitivity,
        help="with --alarms: the Runbook's detection sensitivity",
    )
    parser.add_argument("--results", help="write NAB results CSVs under this directory")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="first write a seeded synthetic corpus into --corpus",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --generate")
    parser.set_defaults(run=_eval_command)
