"""The detectors of one Runbook: a stream per (workload, signal), scored a tick at a time.

:class:`RunbookStreams` is what the controller keeps for a Runbook between evaluations. A
detector with a vectorized bank (the default, ``novelty``) scores every stream of the
runbook in one :class:`~kubeheal.detect.bank.DetectorBank`: one call per signal and tick,
whatever the number of workloads. A detector without one (the ``hst`` reference) keeps a
:class:`~kubeheal.detect.stream.StreamDetector` per stream. Either way each stream keeps its
own k-of-n debouncer, and each workload's signals are fused as :mod:`kubeheal.detect.alarms`
says: both paths give the same verdicts, to the bit (a test runs both on the same points).

A tick of the bank costs Python work only where something happens. Most workloads are calm
at most ticks: each of their streams' debouncer is calm and its point stays below the clear
level, so the point would only append a quiet verdict. For those the tick works on arrays
(one entry per bank row or per workload) and makes no object:

- a point reaches its bank row through a dict per signal (workload -> row); each workload
  has a number, given once, and each bank row knows its workload's;
- the fused score of every workload (the product of its signals' ``1 - p``, as
  :func:`~kubeheal.detect.fusion.fuse` multiplies it) is an array; the tick returns
  :class:`Verdicts`, a sequence that makes a calm workload's :class:`WorkloadVerdict` when it
  is read, and holds the verdicts of the busy workloads (debounced and fused one stream at a
  time, as the per-stream path does) and the alarms among them;
- each row's last point is kept in arrays (:class:`LastPoints`), from which a calm stream's
  verdict is made when read (:attr:`Stream.last`).

:meth:`RunbookStreams.add`, the only way a stream is added (none is removed: a changed
runbook gets new streams), keeps the rows, the numbers and the arrays, and forgets the
workloads' order by name whenever a workload is new: nothing can go stale.

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
>>> [v.workload for v in verdicts.alarms], verdicts.get("a") == verdicts[0]
(['b'], True)
>>> print(verdicts[1].incident.explanations[0].sentence())  # doctest: +NORMALIZE_WHITESPACE
errors: observed 9, expected 1.03 (robust z 586, rarer than 1 in 1,000,000,000 points)
  since 1970-01-01T01:00:00Z
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import chain
from typing import TypeVar, overload

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
from kubeheal.detect.bank import BankScores, DetectorBank, point_score
from kubeheal.detect.debounce import DebouncedScore, KOfN
from kubeheal.detect.registry import DETECTORS, resolve
from kubeheal.detect.stream import StreamDetector
from kubeheal.detect.values import IncidentScore, PointStatus, stream_key

Point = tuple[float, float]
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
Names = NDArray[np.object_]
G = TypeVar("G", bound=np.generic)


class LastPoints:
    """The last point each row of a bank scored, one array per field, with the signal it was
    scored for, and whether the row's verdict is still to be made (a calm stream's, see
    :attr:`Stream.last`)."""

    FIELDS = ("timestamps", "observed", "expected", "raw", "probability", "onset", "zscore")

    def __init__(self) -> None:
        self.floats = {name: np.zeros(0) for name in self.FIELDS}
        self.status = np.zeros(0, dtype=np.int8)
        self.signal = np.zeros(0, dtype=np.int16)
        self.pending = np.zeros(0, dtype=np.bool_)
        self.signals: list[Signal] = []
        """The signals rows were scored for, each definition once (``signal`` indexes it;
        a signal edited without the streams being reset is kept beside its old self)."""

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows."""
        for name, array in self.floats.items():
            self.floats[name] = _grown(array, rows, 0.0)
        self.status = _grown(self.status, rows, 0)
        self.signal = _grown(self.signal, rows, 0)
        self.pending = _grown(self.pending, rows, False)

    def record(self, scores: BankScores, signal: Signal, pending: Bools) -> None:
        """Keep the points of ``scores``; ``pending`` says which rows' verdicts wait."""
        rows = scores.rows
        for name, array in self.floats.items():
            array[rows] = getattr(scores, name)
        self.status[rows] = scores.status
        self.signal[rows] = self._index(signal)
        self.pending[rows] = pending

    def _index(self, signal: Signal) -> int:
        for k, known in enumerate(self.signals):
            if known is signal or known == signal:
                return k
        self.signals.append(signal)
        return len(self.signals) - 1

    def verdict(self, row: int) -> DebouncedScore:
        """The verdict of a calm stream on its last point (what the debouncer, calm, says)."""
        f = self.floats
        score = point_score(
            float(f["timestamps"][row]), float(f["observed"][row]), float(f["expected"][row]),
            float(f["raw"][row]), float(f["probability"][row]),
            PointStatus(int(self.status[row])), float(f["onset"][row]), float(f["zscore"][row]),
        )
        self.pending[row] = False
        return DebouncedScore(directional(score, self.signals[int(self.signal[row])]), False,
                              None)


@dataclass(slots=True)
class Stream:
    """One (workload, signal): its debouncer and last verdict, and its detector: a row of
    the runbook's bank, or a detector of its own."""

    debouncer: KOfN
    row: int = -1
    detector: StreamDetector | None = None
    verdict: DebouncedScore | None = None
    points: LastPoints | None = None
    """The last points of the bank's rows, once the stream is live in a bank."""

    @property
    def pending(self) -> bool:
        """Whether the verdict on the stream's last point is still to be made (it was calm)."""
        return self.points is not None and bool(self.points.pending[self.row])

    @property
    def last(self) -> DebouncedScore | None:
        """The verdict on the stream's last point."""
        if self.points is not None and self.points.pending[self.row]:
            self.verdict = self.points.verdict(self.row)
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


class Verdicts(Sequence[WorkloadVerdict]):
    """The verdicts of one tick, one per workload scored, sorted by workload.

    ``workloads`` and ``probabilities`` (the fused probability of each) are arrays; the
    verdict of a workload where something happened was made by the tick (``made``), a calm
    one's is made when read: ``IncidentScore(f"{namespace}/{workload}", p, False)``, no
    explanation, not in alarm (what :func:`~kubeheal.detect.fusion.fuse` says of it).

    >>> made = WorkloadVerdict("b", IncidentScore("ns/b", 0.99999, True), True)
    >>> verdicts = Verdicts("ns", ["a", "b", "c"], [0.25, 0.99999, 0.5], {"b": made})
    >>> verdicts[0], verdicts.alarms == (made,), verdicts.get("c").incident.probability
    (WorkloadVerdict(workload='a', incident=IncidentScore(workload='ns/a', probability=0.25, \
alarm=False, explanations=()), alarm=False), True, 0.5)
    >>> verdicts.get("d") is None, verdicts.scores()
    (True, {'a': 0.25, 'b': 0.99999, 'c': 0.5})
    """

    def __init__(
        self,
        namespace: str = "",
        workloads: Names | Sequence[str] = (),
        probabilities: Floats | Sequence[float] = (),
        made: Mapping[str, WorkloadVerdict] | None = None,
    ) -> None:
        self.namespace = namespace
        self.workloads: Names = np.asarray(workloads, dtype=np.object_)
        self.probabilities: Floats = np.asarray(probabilities, dtype=np.float64)
        if self.workloads.shape != self.probabilities.shape or self.workloads.ndim != 1:
            raise ValueError("one probability per workload")
        self.made: Mapping[str, WorkloadVerdict] = made or {}
        """The verdicts the tick made (the workloads where something happened)."""
        self.alarms = tuple(v for _, v in sorted(self.made.items()) if v.alarm)
        """The verdicts in alarm, by workload."""

    def __len__(self) -> int:
        return len(self.workloads)

    @overload
    def __getitem__(self, index: int) -> WorkloadVerdict: ...

    @overload
    def __getitem__(self, index: slice) -> list[WorkloadVerdict]: ...

    def __getitem__(self, index: int | slice) -> WorkloadVerdict | list[WorkloadVerdict]:
        if isinstance(index, slice):
            return [self._verdict(k) for k in range(len(self))[index]]
        return self._verdict(range(len(self))[index])

    def __iter__(self) -> Iterator[WorkloadVerdict]:
        for workload, probability in zip(self.workloads.tolist(), self.probabilities.tolist(),
                                         strict=True):
            yield self._make(workload, probability)

    def __repr__(self) -> str:
        return f"Verdicts({len(self)} workloads, {len(self.alarms)} in alarm)"

    def get(self, workload: str) -> WorkloadVerdict | None:
        """The verdict of ``workload``, None when it was not scored."""
        k = bisect.bisect_left(self.workloads, workload)
        if k < len(self) and self.workloads[k] == workload:
            return self._verdict(k)
        return None

    def scores(self) -> dict[str, float]:
        """The fused probability of each workload (no verdict is made)."""
        return dict(zip(self.workloads.tolist(), self.probabilities.tolist(), strict=True))

    def _verdict(self, k: int) -> WorkloadVerdict:
        return self._make(str(self.workloads[k]), float(self.probabilities[k]))

    def _make(self, workload: str, probability: float) -> WorkloadVerdict:
        made = self.made.get(workload)
        if made is not None:
            return made
        incident = IncidentScore(f"{self.namespace}/{workload}", probability, False)
        return WorkloadVerdict(workload, incident, False)


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


def _grown(array: NDArray[G], size: int, fill: object) -> NDArray[G]:
    if len(array) >= size:
        return array
    return np.concatenate([array, np.full(size - len(array), fill, dtype=array.dtype)])


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
        first = new_debouncer(detection)
        self._debounce = (first.k, first.n, first.threshold, first.clear)
        """The settings of every stream's debouncer (computed once: there may be 30,000)."""
        self._clear = first.clear
        # What the bank's tick reads per row and per workload (see the module's docstring),
        # all kept by add().
        self._rows: dict[str, dict[str, int]] = {}
        """Per signal, the bank row of each workload's stream."""
        self._row_streams: list[Stream] = []
        self._number: dict[str, int] = {}
        """Each workload's number (given when its first stream is added)."""
        self._names: list[str] = []
        self._row_workload = np.zeros(0, dtype=np.int64)
        """Per bank row: the number of its workload."""
        self._calm = np.ones(0, dtype=np.bool_)
        """Per bank row: whether the stream's debouncer is calm (see :meth:`_observe_bank`)."""
        self._points = LastPoints()
        self._by_name: tuple[Ints, Names] | None = None
        """The workloads' numbers in the order of their names, and the names in that order
        (None: to sort again, a workload was added)."""

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
            rows = self.bank.extend(warmed.bank).tolist()
            size = self.bank.capacity
            self._calm = _grown(self._calm, size, True)
            self._row_workload = _grown(self._row_workload, size, -1)
            self._points.reserve(size)
            index = self._rows.setdefault(warmed.signal, {})
            for (workload, stream), row in zip(warmed.streams.items(), rows, strict=True):
                stream.row, stream.points = row, self._points
                index[workload] = row
                self._row_workload[row] = self._numbered(workload)
                self._row_streams.append(stream)
        for workload, stream in warmed.streams.items():
            self.streams[(workload, warmed.signal)] = stream

    def _numbered(self, workload: str) -> int:
        number = self._number.get(workload)
        if number is None:
            number = self._number[workload] = len(self._names)
            self._names.append(workload)
            self._by_name = None
        return number

    def observe(
        self,
        signals: Sequence[Signal],
        points: Mapping[str, Mapping[str, Point]],
        workloads: Collection[str] | None = None,
        learn: Mapping[tuple[str, str], bool] | None = None,
    ) -> Verdicts:
        """Score then learn one point per stream that has one, debounce, fuse per workload.

        ``points`` maps a signal's name to each workload's point; only ``workloads`` are
        scored (default: all). ``learn`` says, per (workload, signal), whether the stream
        learns its point (default: it does); a stream that does not is scored all the same.
        The verdicts come sorted by workload.
        """
        if self.bank is not None:
            return self._observe_bank(self.bank, signals, points, workloads, learn)
        wanted = _selection(workloads)
        scored: dict[str, dict[str, DebouncedScore]] = {}
        for signal in signals:
            for workload, point in points.get(signal.name, {}).items():
                stream = self.streams.get((workload, signal.name))
                if stream is None or (wanted is not None and workload not in wanted):
                    continue
                assert stream.detector is not None
                flag = True if learn is None else learn.get((workload, signal.name), True)
                score = stream.detector.update(*point, learn=flag)
                stream.verdict = stream.debouncer.update(directional(score, signal))
                scored.setdefault(workload, {})[signal.name] = stream.verdict
        made = self._fused(signals, scored)
        names = sorted(made)
        return Verdicts(self.namespace, names, [made[w].incident.probability for w in names],
                        made)

    def _fused(
        self, signals: Sequence[Signal], scored: Mapping[str, Mapping[str, DebouncedScore]]
    ) -> dict[str, WorkloadVerdict]:
        roles = {s.name: s.role for s in signals}
        made = {}
        for workload, of_workload in scored.items():
            incident, alarm = workload_alarm(f"{self.namespace}/{workload}", of_workload, roles)
            made[workload] = WorkloadVerdict(workload, incident, alarm)
        return made

    def _observe_bank(
        self,
        bank: DetectorBank,
        signals: Sequence[Signal],
        points: Mapping[str, Mapping[str, Point]],
        workloads: Collection[str] | None,
        learn: Mapping[tuple[str, str], bool] | None,
    ) -> Verdicts:
        """:meth:`observe` on the bank: each signal's points in one call, and the Python of
        debounce and fusion only for the workloads where something happens.

        A stream whose debouncer is calm and whose point stays below its clear level (after
        :func:`~kubeheal.detect.alarms.directional_arrays`) would only append a quiet verdict
        (:attr:`KOfN.calm <kubeheal.detect.debounce.KOfN.calm>`): a workload whose streams
        are all so is calm, its fused score is the product of its probabilities (an array
        here), and each stream's verdict is made when read (:attr:`Stream.last`). Any other
        workload is busy: its streams are debounced and its signals fused one by one. Either
        way, the verdicts are the same.
        """
        wanted = _selection(workloads)
        count = len(self._names)
        quiet = np.ones(count)
        seen = np.zeros(count, dtype=np.bool_)
        busy = np.zeros(count, dtype=np.bool_)
        ticks = []
        for signal in signals:
            index = self._rows.get(signal.name, {})
            rows, timestamps, values = _rows_of(index, points.get(signal.name, {}), wanted)
            scores = bank.score_and_learn(rows, timestamps, values,
                                          _learning(signal.name, index, rows, learn))
            probability, ready = directional_arrays(
                signal, scores.observed, scores.expected, scores.probability, scores.status)
            numbers = self._row_workload[rows]
            seen[numbers] = True
            # What fuse() computes, signal by signal (a workload has one row per signal).
            quiet[numbers] *= np.where(ready, 1.0 - probability, 1.0)
            calm = self._calm[rows] & ~(ready & (probability >= self._clear))
            busy[numbers[~calm]] = True
            ticks.append((signal, scores, numbers))
        scored: dict[str, dict[str, DebouncedScore]] = {}
        for signal, scores, numbers in ticks:
            hot = busy[numbers]
            self._points.record(scores, signal, ~hot)
            for j in np.flatnonzero(hot).tolist():
                row = int(scores.rows[j])
                stream = self._row_streams[row]
                verdict = stream.debouncer.update(directional(scores.at(j), signal))
                stream.verdict = verdict
                self._calm[row] = stream.debouncer.calm
                scored.setdefault(self._names[numbers[j]], {})[signal.name] = verdict
        order, names = self._sorted()
        present = seen[order]
        return Verdicts(self.namespace, names[present], 1.0 - quiet[order[present]],
                        self._fused(signals, scored))

    def _sorted(self) -> tuple[Ints, Names]:
        """The workloads' numbers in the order of their names, and their names so."""
        if self._by_name is None or len(self._by_name[0]) != len(self._names):
            order = np.array(sorted(range(len(self._names)), key=self._names.__getitem__),
                             dtype=np.int64)
            names = np.empty(len(order), dtype=np.object_)
            names[:] = [self._names[k] for k in order.tolist()]
            self._by_name = order, names
        return self._by_name

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


def _selection(workloads: Collection[str] | None) -> Collection[str] | None:
    """``workloads`` as something whose membership test is a lookup."""
    if workloads is None or isinstance(workloads, AbstractSet | Mapping):
        return workloads
    return set(workloads)


def _rows_of(
    index: Mapping[str, int], answered: Mapping[str, Point], wanted: Collection[str] | None
) -> tuple[Ints, Floats, Floats]:
    """The rows of the streams that have a point in ``answered`` (and are ``wanted``), in
    increasing order, with their points' timestamps and values."""
    count = len(answered)
    if wanted is None:
        found = (index.get(w, -1) for w in answered)
    else:
        found = (index.get(w, -1) if w in wanted else -1 for w in answered)
    rows = np.fromiter(found, np.int64, count)
    flat = np.fromiter(chain.from_iterable(answered.values()), np.float64,
                       2 * count).reshape(count, 2)
    kept = rows >= 0
    if not kept.all():
        rows, flat = rows[kept], flat[kept]
    if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
        # In row order a signal's rows are mostly one run: the bank then works in place.
        order = np.argsort(rows, kind="stable")
        rows, flat = rows[order], flat[order]
    return rows, flat[:, 0], flat[:, 1]


def _learning(
    signal: str, index: Mapping[str, int], rows: Ints,
    learn: Mapping[tuple[str, str], bool] | None,
) -> Bools | None:
    """Whether each of ``rows`` (increasing) learns its point (None: all of them do)."""
    told = [] if learn is None else [
        (index[w], flag) for (w, s), flag in learn.items() if s == signal and w in index]
    if not told:
        return None
    where = np.array([row for row, _ in told], dtype=np.int64)
    at = np.searchsorted(rows, where)
    hit = at < len(rows)
    hit[hit] = rows[at[hit]] == where[hit]
    flags = np.ones(len(rows), dtype=np.bool_)
    flags[at[hit]] = np.array([flag for _, flag in told], dtype=np.bool_)[hit]
    return flags
