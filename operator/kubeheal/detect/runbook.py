"""The detectors of one Runbook: a stream per (workload, signal), scored a tick at a time.

:class:`RunbookStreams` is what the controller keeps for a Runbook between evaluations. A
detector with a vectorized bank (the default, ``novelty``) scores every stream of the
runbook in one :class:`~kubeheal.detect.bank.DetectorBank`: one call per signal and tick,
whatever the number of workloads. A detector without one (the ``hst`` reference) keeps a
:class:`~kubeheal.detect.stream.StreamDetector` per stream. Either way each stream keeps its
own k-of-n debouncer, and each workload's signals are fused as :mod:`kubeheal.detect.alarms`
says: both paths give the same verdicts, to the bit (a test runs both on the same points).

Warming new streams from history is the heavy part (30,000 streams of an hour at 15 s are
7.2 million points): :meth:`RunbookStreams.warm` builds and warms them apart from the live
streams, touching nothing that a reader of :attr:`RunbookStreams.streams` may see, so it can
run in a worker thread; :meth:`RunbookStreams.add` then makes them live.

>>> from kubeheal.api.runbook import DetectionSettings, Signal
>>> streams = RunbookStreams("shop", "web", DetectionSettings(warmup_points=50))
>>> history = {w: [(15.0 * i, 1.0 + (i % 4) * 0.01) for i in range(240)] for w in ("a", "b")}
>>> streams.add(streams.warm("errors", ["a", "b"], history))
>>> errors = Signal(name="errors", query="q", bad_direction="up")
>>> for k in range(3):  # b's errors jump from 1 to 9 and stay there: 3 of 5 points alarm
...     verdicts = streams.observe([errors], {"errors": {"a": (3600.0 + 15 * k, 1.0),
...                                                      "b": (3600.0 + 15 * k, 9.0)}})
>>> [(v.workload, v.alarm) for v in verdicts], streams.ready_count(), streams.learned("a", "errors")
([('a', False), ('b', True)], 2, 243)
>>> print(verdicts[1].incident.explanations[0].sentence())  # doctest: +NORMALIZE_WHITESPACE
errors: observed 9, expected 1.03 (robust z 586, rarer than 1 in 1,000,000,000 points)
  since 1970-01-01T01:00:00Z
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from kubeheal.api.runbook import DetectionSettings, Signal
from kubeheal.detect.alarms import (
    directional,
    directional_arrays,
    new_debouncer,
    new_detector,
    workload_alarm,
)
from kubeheal.detect.bank import BankScores, DetectorBank
from kubeheal.detect.debounce import DebouncedScore, KOfN
from kubeheal.detect.registry import DETECTORS, resolve
from kubeheal.detect.stream import StreamDetector
from kubeheal.detect.values import IncidentScore, stream_key

Point = tuple[float, float]
Floats = NDArray[np.float64]


@dataclass(slots=True)
class Stream:
    """One (workload, signal): its debouncer and last verdict, and its detector: a row of
    the runbook's bank, or a detector of its own."""

    debouncer: KOfN
    row: int = -1
    detector: StreamDetector | None = None
    verdict: DebouncedScore | None = None
    pending: tuple[BankScores, int, Signal] | None = None
    """A calm stream's last point, its verdict made only when asked for (see ``last``)."""

    @property
    def last(self) -> DebouncedScore | None:
        """The verdict on the stream's last point."""
        if self.pending is not None:
            scores, j, signal = self.pending
            self.verdict = DebouncedScore(directional(scores.at(j), signal), False, None)
            self.pending = None
        return self.verdict


@dataclass
class WarmedStreams:
    """New streams of one signal, warmed apart from the live ones (see
    :meth:`RunbookStreams.warm`); rows are rows of ``bank`` until they are added."""

    signal: str
    streams: dict[str, Stream] = field(default_factory=dict)
    bank: DetectorBank | None = None


@dataclass(frozen=True)
class WorkloadVerdict:
    """The fused score of one workload at one tick, and whether it is in alarm."""

    workload: str
    incident: IncidentScore
    alarm: bool


def padded(histories: Iterable[Sequence[Point]]) -> tuple[Floats, Floats]:
    """Timestamps and values of each history as rows of two 2-D arrays, NaN-padded.

    >>> padded([[(0.0, 1.0), (15.0, 2.0)], [], [(30.0, 5.0)]])[1].tolist()
    [[1.0, 2.0], [nan, nan], [5.0, nan]]
    """
    pieces = list(histories)
    lengths = np.fromiter((len(p) for p in pieces), np.int64, len(pieces))
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(pieces)), np.float64,
                       2 * int(lengths.sum())).reshape(-1, 2)
    present = np.arange(lengths.max(initial=0)) < lengths[:, None]
    times = np.full(present.shape, np.nan)
    values = np.full(present.shape, np.nan)
    times[present], values[present] = flat[:, 0], flat[:, 1]
    return times, values


class RunbookStreams:
    """The streams of one Runbook (one per selected workload and signal)."""

    def __init__(
        self,
        namespace: str,
        runbook: str,
        detection: DetectionSettings,
        vectorized: bool = True,
    ) -> None:
        self.namespace = namespace
        self.runbook = runbook
        self.detection = detection
        self.spec = DETECTORS[resolve(detection.detector)]
        self.vectorized = vectorized and self.spec.bank is not None
        """Whether the streams live in a bank (the detector has one, and it is wanted)."""
        self.bank = self._new_bank() if self.vectorized else None
        self.streams: dict[tuple[str, str], Stream] = {}
        """The live streams by (workload, signal)."""
        self._calm = np.ones(0, dtype=np.bool_)
        """Per bank row: whether the stream's debouncer is calm (see :meth:`_observe_bank`)."""
        first = new_debouncer(detection)
        self._debounce = (first.k, first.n, first.threshold, first.clear)
        """The settings of every stream's debouncer (computed once: there may be 30,000)."""
        self._clear = first.clear

    def _new_bank(self) -> DetectorBank:
        make = self.spec.bank
        if make is None:
            raise ValueError(f"detector {self.spec.name} has no bank")
        bank = make()
        bank.warmup = self.spec.warmup(self.detection)
        return bank

    def missing(self, signal: str, workloads: Collection[str]) -> list[str]:
        """The workloads that have no stream of ``signal`` yet."""
        return [w for w in workloads if (w, signal) not in self.streams]

    def warm(
        self, signal: str, workloads: Sequence[str], history: Mapping[str, Sequence[Point]]
    ) -> WarmedStreams:
        """New streams of ``signal`` for ``workloads``, each warmed from its ``history``
        ((timestamp, value) points, oldest first; none is fine). Touches no live state."""
        warmed = WarmedStreams(signal)
        if self.vectorized:
            bank = warmed.bank = self._new_bank()
            bank.reserve(len(workloads))
            rows = bank.add_streams(stream_key(self.runbook, w, signal) for w in workloads)
            bank.warm_up(rows, *padded(history.get(w, ()) for w in workloads))
            for workload, row in zip(workloads, rows.tolist(), strict=True):
                warmed.streams[workload] = Stream(self._debouncer(), row=row)
            return warmed
        for workload in workloads:
            detector, debouncer = new_detector(self.detection)
            detector.warm_up(history.get(workload, ()))
            warmed.streams[workload] = Stream(debouncer, detector=detector)
        return warmed

    def _debouncer(self) -> KOfN:
        return KOfN(*self._debounce)

    def add(self, warmed: WarmedStreams) -> None:
        """Make warmed streams live (from the thread that scores)."""
        if warmed.bank is not None:
            if self.bank is None:
                raise ValueError("these streams were warmed in a bank, this runbook has none")
            rows = self.bank.extend(warmed.bank)
            for stream in warmed.streams.values():
                stream.row = int(rows[stream.row])
        for workload, stream in warmed.streams.items():
            self.streams[(workload, warmed.signal)] = stream

    def observe(
        self,
        signals: Sequence[Signal],
        points: Mapping[str, Mapping[str, Point]],
        workloads: Collection[str] | None = None,
        learn: Mapping[tuple[str, str], bool] | None = None,
    ) -> list[WorkloadVerdict]:
        """Score then learn one point per stream that has one, debounce, fuse per workload.

        ``points`` maps a signal's name to each workload's point; only ``workloads`` are
        scored (default: all). ``learn`` says, per (workload, signal), whether the stream
        learns its point (default: it does); a stream that does not is scored all the same.
        The verdicts come sorted by workload.
        """
        if self.bank is not None:
            return self._observe_bank(self.bank, signals, points, workloads, learn)
        scored: dict[str, dict[str, DebouncedScore]] = {}
        for signal in signals:
            for workload, stream, point in self._present(signal, points, workloads):
                assert stream.detector is not None
                flag = True if learn is None else learn.get((workload, signal.name), True)
                score = stream.detector.update(*point, learn=flag)
                stream.verdict = stream.debouncer.update(directional(score, signal))
                scored.setdefault(workload, {})[signal.name] = stream.verdict
        return self._verdicts(signals, scored, {})

    def _present(
        self, signal: Signal, points: Mapping[str, Mapping[str, Point]],
        workloads: Collection[str] | None,
    ) -> list[tuple[str, Stream, Point]]:
        return [
            (workload, stream, point)
            for workload, point in points.get(signal.name, {}).items()
            if (workloads is None or workload in workloads)
            and (stream := self.streams.get((workload, signal.name))) is not None
        ]

    def _observe_bank(
        self,
        bank: DetectorBank,
        signals: Sequence[Signal],
        points: Mapping[str, Mapping[str, Point]],
        workloads: Collection[str] | None,
        learn: Mapping[tuple[str, str], bool] | None,
    ) -> list[WorkloadVerdict]:
        """:meth:`observe` on the bank: each signal's points in one call, and the Python of
        debounce and fusion only for the workloads where something happens.

        A stream whose debouncer is calm and whose point stays below its clear level (after
        :func:`~kubeheal.detect.alarms.directional_arrays`) would only append a quiet verdict:
        such a workload's fused score is the product of its probabilities, and each stream's
        verdict is made when read (:attr:`Stream.last`). Either way, the verdicts are the same.
        """
        if len(self._calm) < bank.capacity:
            calm = np.ones(bank.capacity, dtype=np.bool_)
            calm[: len(self._calm)] = self._calm
            self._calm = calm
        ticks = []
        busy: set[str] = set()
        for signal in signals:
            present = self._present(signal, points, workloads)
            count = len(present)
            rows = np.fromiter((s.row for _, s, _ in present), np.int64, count)
            # In row order a signal's rows are mostly one run: the bank then works in place.
            order = np.argsort(rows, kind="stable")
            present = [present[k] for k in order.tolist()]
            flags = np.fromiter(
                (True if learn is None else learn.get((w, signal.name), True)
                 for w, _, _ in present), np.bool_, count)
            scores = bank.score_and_learn(
                rows[order],
                np.fromiter((p[0] for _, _, p in present), np.float64, count),
                np.fromiter((p[1] for _, _, p in present), np.float64, count),
                flags,
            )
            probability, scored_ = directional_arrays(
                signal, scores.observed, scores.expected, scores.probability, scores.status)
            quiet = self._calm[scores.rows] & ~(scored_ & (probability >= self._clear))
            busy.update(present[j][0] for j in np.flatnonzero(~quiet).tolist())
            ticks.append((signal, present, scores, probability, scored_))
        scored: dict[str, dict[str, DebouncedScore]] = {}
        fused: dict[str, float] = {}
        for signal, present, scores, probabilities, scored_ in ticks:
            probability, ready = probabilities.tolist(), scored_.tolist()
            for j, (workload, stream, _) in enumerate(present):
                if workload in busy:
                    verdict = stream.debouncer.update(directional(scores.at(j), signal))
                    stream.verdict, stream.pending = verdict, None
                    self._calm[stream.row] = stream.debouncer.calm
                    scored.setdefault(workload, {})[signal.name] = verdict
                else:
                    stream.pending = (scores, j, signal)
                    if ready[j]:  # what fuse() computes, signal by signal
                        fused[workload] = fused.get(workload, 1.0) * (1.0 - probability[j])
                    else:
                        fused.setdefault(workload, 1.0)
        return self._verdicts(signals, scored, fused)

    def _verdicts(
        self, signals: Sequence[Signal], scored: Mapping[str, Mapping[str, DebouncedScore]],
        calm: Mapping[str, float],
    ) -> list[WorkloadVerdict]:
        roles = {s.name: s.role for s in signals}
        verdicts = []
        for workload in sorted([*scored, *calm]):
            name = f"{self.namespace}/{workload}"
            if workload in calm:
                verdicts.append(WorkloadVerdict(
                    workload, IncidentScore(name, 1.0 - calm[workload], False), False))
                continue
            incident, alarm = workload_alarm(name, scored[workload], roles)
            verdicts.append(WorkloadVerdict(workload, incident, alarm))
        return verdicts

    def learned(self, workload: str, signal: str) -> int:
        """Points the stream has learned."""
        stream = self.streams[(workload, signal)]
        if stream.detector is not None:
            return stream.detector.learned
        assert self.bank is not None
        return self.bank.learned(stream.row)

    def ready(self, workload: str, signal: str) -> bool:
        """Whether the stream has learned its warm-up."""
        return self.learned(workload, signal) >= self.spec.warmup(self.detection)

    def ready_count(self) -> int:
        """How many streams have learned their warm-up."""
        if self.bank is not None:
            return int(np.count_nonzero(self.bank.ready(np.arange(self.bank.size))))
        return sum(
            1 for s in self.streams.values() if s.detector is not None and s.detector.ready
        )
