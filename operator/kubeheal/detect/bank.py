"""The default detector for thousands of streams at once: one numpy array per state variable.

A detector object per stream costs tens of microseconds per point in Python, too slow for
10,000 streams per tick. :class:`DetectorBank` keeps the state of every stream of the default
detector (input gate, :class:`~kubeheal.detect.novelty.NoveltyModel` with its window history
and likelihood layer) as arrays and advances all the streams of one tick with a few dozen
vector operations. The arithmetic is the per-stream model's, step by step, with the very same
:class:`~kubeheal.detect.novelty.NoveltyConfig`; a test checks that both give the same scores
on the same streams. A stream costs about 2.7 KiB (``state_bytes``), most of it the float32
history of ``lags + 2 * window`` values and the ``lags`` window sums.

Typical use by the controller::

    bank = DetectorBank()
    rows = bank.add_streams([key_a, key_b])            # once per stream
    bank.warm_up(rows, history_timestamps, history_values)   # 2-D, NaN-padded
    scores = bank.score_and_learn(rows, timestamps, values)  # every tick
    scores.at(0)                                        # an AnomalyScore

A ``learn`` mask holds the learning of some streams (a workload whose incident is open must
not take the fault for its new normal), with the per-stream model's rules of a hold and of
its end (see :mod:`kubeheal.detect.novelty`). Warming many new streams can
run in a thread on a bank of their own, later appended to the live one with
:meth:`DetectorBank.extend`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kubeheal.detect.hygiene import GateConfig
from kubeheal.detect.novelty import MAD_TO_STD, VALUE_RANGE, NoveltyConfig, z_probability
from kubeheal.detect.values import AnomalyScore, InputCounters, PointStatus, StreamKey

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
Rows = Ints | slice
"""Rows of the bank: their numbers, or a slice when they are a run (the common case: then the
state of the rows is read and written through views, without copies)."""
Nearest = Callable[[Rows, Floats, Ints, Floats], tuple[Floats, Floats, Bools]]


@dataclass(frozen=True)
class BankScores:
    """Scores of one tick: one entry per row given to :meth:`DetectorBank.score_and_learn`."""

    rows: Ints
    timestamps: Floats
    observed: Floats
    expected: Floats
    raw: Floats
    probability: Floats
    onset: Floats
    zscore: Floats
    status: NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.rows)

    def at(self, j: int) -> AnomalyScore:
        """The j-th entry as an :class:`AnomalyScore`."""
        return point_score(
            float(self.timestamps[j]), float(self.observed[j]), float(self.expected[j]),
            float(self.raw[j]), float(self.probability[j]), PointStatus(int(self.status[j])),
            float(self.onset[j]), float(self.zscore[j]),
        )


def point_score(
    timestamp: float, observed: float, expected: float, raw: float, probability: float,
    status: PointStatus, onset: float, zscore: float,
) -> AnomalyScore:
    """One point of a bank's scores as an :class:`AnomalyScore`, as a stream's detector gives
    it (a skipped point has no onset).

    >>> point_score(60.0, 5.0, 5.0, 0.0, 0.0, PointStatus.SKIPPED, 0.0, float("nan")).onset
    >>> point_score(60.0, 5.0, 4.0, 0.5, 0.3, PointStatus.SCORED, 0.3, 1.2).onset
    0.3
    """
    return AnomalyScore(
        timestamp=timestamp, observed=observed, expected=expected, raw=raw,
        probability=probability, status=status,
        onset=None if status is PointStatus.SKIPPED else onset, zscore=zscore,
    )


_FLOAT_STATE = (
    "last_timestamp",
    "interval",
    "level",
    "deviation",
    "step",
    "last",
    "offset",
    "short",
    "mean",
    "var",
)
_INT_STATE = ("n", "learned", "quiet", "held", "taught")
"""``learned``: points the likelihood layer learned; ``held``: values kept while learning is
held; ``taught``: points the stream learned (the detector's readiness)."""

_COUNTERS = ("non_finite", "duplicate", "out_of_order", "gaps", "clock_jumps", "drifts")
_INITIAL = {"last_timestamp": np.nan}


class DetectorBank:
    """The default detector (``novelty``) over many streams, vectorized.

    >>> import numpy as np
    >>> bank = DetectorBank()
    >>> rows = bank.add_streams(["a", "b"])
    >>> t = np.arange(400.0) * 60
    >>> history = np.vstack([5.0 + np.sin(t / 600), 100.0 + np.cos(t / 900)])
    >>> bank.warm_up(rows, np.vstack([t, t]), history)
    >>> for k in range(3):  # b jumps from about 100 to 400 and stays there
    ...     scores = bank.score_and_learn(rows, [24000.0 + 60 * k] * 2, [5.0 + np.sin(40), 400.0])
    >>> [bool(p > 0.999) for p in scores.probability]
    [False, True]
    >>> scores.at(1).ready, scores.at(1).probability < 1.0
    (True, True)
    """

    WARM_BLOCK = 8192
    """Rows warmed together by :meth:`warm_up`."""
    WARM_SEGMENT = 256
    """Points a warm-up's history slides down before it is moved back up (see
    :class:`_LagMajor`)."""

    def __init__(
        self,
        config: NoveltyConfig | None = None,
        gate: GateConfig | None = None,
        capacity: int = 16,
    ) -> None:
        self.config = config if config is not None else NoveltyConfig()
        self.gate = gate if gate is not None else GateConfig()
        self.warmup = self.config.warmup
        """Points learned before a stream reports scores (the runbook may set another)."""
        self.size = 0
        self.keys: list[StreamKey | str] = []
        self._rows: dict[StreamKey | str, int] = {}
        self._f: dict[str, Floats] = {}
        self._i: dict[str, Ints] = {}
        self._c: dict[str, NDArray[np.int32]] = {}
        self._values = np.zeros((0, self.config.history), dtype=np.float32)
        self._sums = np.zeros((0, self.config.lags), dtype=np.float32)
        self._held = np.zeros((0, self.config.window), dtype=np.float64)
        self._allocate(max(capacity, 1))

    def _allocate(self, capacity: int) -> None:
        old = self.size
        for name in _FLOAT_STATE:
            array = np.full(capacity, _INITIAL.get(name, 0.0), dtype=np.float64)
            if name in self._f:
                array[:old] = self._f[name][:old]
            self._f[name] = array
        for name in _INT_STATE:
            ints = np.zeros(capacity, dtype=np.int64)
            if name in self._i:
                ints[:old] = self._i[name][:old]
            self._i[name] = ints
        for name in _COUNTERS:
            counts = np.zeros(capacity, dtype=np.int32)
            if name in self._c:
                counts[:old] = self._c[name][:old]
            self._c[name] = counts
        values = np.zeros((capacity, self.config.history), dtype=np.float32)
        values[:old] = self._values[:old]
        self._values = values
        sums = np.zeros((capacity, self.config.lags), dtype=np.float32)
        sums[:old] = self._sums[:old]
        self._sums = sums
        held = np.zeros((capacity, self.config.window), dtype=np.float64)
        held[:old] = self._held[:old]
        self._held = held

    @property
    def capacity(self) -> int:
        return len(self._values)

    def reserve(self, streams: int) -> None:
        """Make room for ``streams`` streams in all (to be filled by :meth:`add_streams`)."""
        if streams > self.capacity:
            self._allocate(streams)

    def add_streams(self, keys: Iterable[StreamKey | str]) -> Ints:
        """Register streams (idempotent); returns their rows, to pass to the other methods."""
        rows = []
        for key in keys:
            row = self._rows.get(key)
            if row is None:
                if self.size == self.capacity:
                    self._allocate(2 * self.capacity)
                row = self.size
                self._rows[key] = row
                self.keys.append(key)
                self.size += 1
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    def row_of(self, key: StreamKey | str) -> int:
        """The row of a registered stream."""
        return self._rows[key]

    def ready(self, rows: ArrayLike) -> NDArray[np.bool_]:
        """Which of ``rows`` have learned enough points to report scores."""
        index = np.asarray(rows, dtype=np.int64)
        return self._i["taught"][index] >= self.warmup

    def learned(self, row: int) -> int:
        """Points a stream has learned (not those scored while learning was held)."""
        return int(self._i["taught"][row])

    def extend(self, other: DetectorBank) -> Ints:
        """Append the streams of ``other`` (a bank with the same parameters and none of these
        keys), with their state; returns their rows here. ``other`` is not to be used after."""
        if (other.config, other.gate, other.warmup) != (self.config, self.gate, self.warmup):
            raise ValueError("the banks have different parameters")
        if any(key in self._rows for key in other.keys):
            raise ValueError("a stream of the other bank is registered here already")
        start, count = self.size, other.size
        if start == 0:  # the common case, a first warm-up: take the arrays as they are
            self._f, self._i, self._c = other._f, other._i, other._c
            self._values, self._sums, self._held = other._values, other._sums, other._held
        else:
            if start + count > self.capacity:
                self._allocate(max(start + count, self.capacity * 5 // 4))
            part = slice(start, start + count)
            for mine, theirs in ((self._f, other._f), (self._i, other._i), (self._c, other._c)):
                for name, array in mine.items():
                    array[part] = theirs[name][:count]
            self._values[part] = other._values[:count]
            self._sums[part] = other._sums[:count]
            self._held[part] = other._held[:count]
        self._rows.update(zip(other.keys, range(start, start + count), strict=True))
        self.keys.extend(other.keys)
        self.size += count
        return np.arange(start, start + count, dtype=np.int64)

    def counters(self, row: int) -> InputCounters:
        """Counts of skipped or irregular points of one stream."""
        return InputCounters(**{name: int(self._c[name][row]) for name in _COUNTERS})

    def state_bytes(self) -> int:
        """Bytes held by the state arrays (all allocated rows)."""
        arrays: list[NDArray[np.generic]] = [*self._f.values(), *self._i.values()]
        arrays += [*self._c.values(), self._values, self._sums, self._held]
        return sum(a.nbytes for a in arrays)

    def warm_up(self, rows: ArrayLike, timestamps: ArrayLike, values: ArrayLike) -> None:
        """Learn history: 2-D arrays, one row per stream, oldest first; NaN timestamps pad.

        The same as feeding the points one column at a time to :meth:`score_and_learn`, a
        block of ``WARM_BLOCK`` rows at a time, lag-major (see :class:`_LagMajor`)."""
        index = np.asarray(rows, dtype=np.int64)
        times = np.atleast_2d(np.asarray(timestamps, dtype=np.float64))
        data = np.atleast_2d(np.asarray(values, dtype=np.float64))
        if times.shape != data.shape or times.shape[0] != len(index):
            raise ValueError("timestamps and values must be (len(rows), points) arrays")
        if len(index) and (index.min() < 0 or index.max() >= self.size):
            raise IndexError("unknown row; register streams with add_streams first")
        if len(np.unique(index)) != len(index):
            raise ValueError("a row may appear only once")
        present = ~np.isnan(times)
        if not present.all():
            # Streams are independent: each one's points at the end, so that a stream with
            # a shorter history waits, untouched, until its points come.
            order = np.argsort(present, axis=1, kind="stable")
            times = np.take_along_axis(times, order, axis=1)
            data = np.take_along_axis(data, order, axis=1)
        for start in range(0, len(index), self.WARM_BLOCK):
            block = slice(start, start + self.WARM_BLOCK)
            rows_, times_, data_ = index[block], times[block], data[block]
            if (self._i["held"][rows_] > 0).any():  # learning resumes: the general path
                for column in range(times_.shape[1]):
                    here = ~np.isnan(times_[:, column])
                    if here.any():
                        self.score_and_learn(rows_[here], times_[here, column],
                                             data_[here, column])
                continue
            engine = _LagMajor(self, rows_, self.WARM_SEGMENT)
            for column in range(times_.shape[1]):
                engine.learn(times_[:, column], data_[:, column])
            engine.finish()

    def score_and_learn(
        self,
        rows: ArrayLike,
        timestamps: ArrayLike,
        values: ArrayLike,
        learn: ArrayLike | None = None,
    ) -> BankScores:
        """Score one point per given row, then learn it. Rows must be distinct.

        Where ``learn`` (one boolean per row) is false, learning is held: the point is scored
        against the model as it was, as :meth:`NoveltyModel.update
        <kubeheal.detect.novelty.NoveltyModel.update>` does with ``learn`` false, and the
        first point learned after a hold ends it by its rules. The input gate sees every point.
        """
        index = np.asarray(rows, dtype=np.int64)
        t = np.asarray(timestamps, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if not (index.shape == t.shape == v.shape) or index.ndim != 1:
            raise ValueError("rows, timestamps and values must be 1-D arrays of one length")
        if len(index) and (index.min() < 0 or index.max() >= self.size):
            raise IndexError("unknown row; register streams with add_streams first")
        increasing = len(index) < 2 or bool(np.all(index[1:] > index[:-1]))
        if not increasing and len(np.unique(index)) != len(index):
            raise ValueError("a row may appear only once per call")
        keep = None if learn is None else ~np.asarray(learn, dtype=np.bool_)
        if keep is not None and keep.shape != index.shape:
            raise ValueError("learn must have one entry per row")
        run = increasing and len(index) > 0 and int(index[-1] - index[0]) == len(index) - 1
        at: Rows = slice(int(index[0]), int(index[-1]) + 1) if run else index
        accepted = self._gate(at, t, v)
        if len(index) and accepted.all() and (keep is None or not keep.any()):
            # Every point learned (the common case): no masks, no copies.
            ready = self._i["taught"][at] >= self.warmup
            e, z, p, onset, zv = self._score_and_learn_accepted(at, v)
            return BankScores(
                index, t, v, e, z, np.where(ready, p, 0.0), np.where(ready, onset, 0.0), zv,
                np.where(ready, PointStatus.SCORED, PointStatus.WARMING_UP).astype(np.int8),
            )
        count = len(index)
        out = {name: np.zeros(count) for name in ("raw", "probability", "onset")}
        expected = v.copy()
        zscore = np.full(count, np.nan)
        status = np.full(count, PointStatus.SKIPPED, dtype=np.int8)
        if accepted.any():
            a = index[accepted]
            ready = self._i["taught"][a] >= self.warmup
            hold = np.zeros(len(a), dtype=np.bool_) if keep is None else keep[accepted]
            e, z, p, onset, zv = (np.empty(len(a)) for _ in range(5))
            for part, score in ((~hold, self._score_and_learn_accepted),
                                (hold, self._score_held)):
                if part.any():
                    e[part], z[part], p[part], onset[part], zv[part] = score(
                        a[part], v[accepted][part]
                    )
            expected[accepted] = e
            out["raw"][accepted] = z
            out["probability"][accepted] = np.where(ready, p, 0.0)
            out["onset"][accepted] = np.where(ready, onset, 0.0)
            zscore[accepted] = zv
            status[accepted] = np.where(ready, PointStatus.SCORED, PointStatus.WARMING_UP)
        return BankScores(
            index, t, v, expected, out["raw"], out["probability"], out["onset"], zscore, status
        )

    def _gate(self, index: Rows, t: Floats, v: Floats) -> NDArray[np.bool_]:
        g = self.gate
        c = self._c
        finite = (np.abs(v) <= g.max_abs) & np.isfinite(t)
        last = self._f["last_timestamp"][index]
        step = t - last
        seen = finite & ~np.isnan(last)
        duplicate = seen & (step == 0.0)
        jump = seen & (np.abs(step) > g.clock_jump)
        out_of_order = seen & (step < 0.0) & ~jump
        regular = seen & (step > 0.0) & ~jump
        interval = self._f["interval"][index]
        gap = regular & (interval > 0.0) & (step > g.gap_factor * interval)
        first_interval = regular & (interval == 0.0)
        smooth = regular & (interval > 0.0) & ~gap
        new_interval = np.where(first_interval, step, interval)
        new_interval = np.where(
            smooth, interval + g.interval_fading * (step - interval), new_interval
        )
        self._f["interval"][index] = new_interval
        c["non_finite"][index] += ~finite
        c["duplicate"][index] += duplicate
        c["out_of_order"][index] += out_of_order
        c["gaps"][index] += gap
        c["clock_jumps"][index] += jump
        accepted = finite & ~duplicate & ~out_of_order
        self._f["last_timestamp"][index] = np.where(accepted, t, last)
        return accepted  # type: ignore[no-any-return]

    def _history(self, a: Rows) -> tuple[NDArray[np.float32], NDArray[np.float32], bool]:
        """The history and sums of rows ``a``: views when ``a`` is a run of rows, else copies."""
        if isinstance(a, slice):
            return self._values[a], self._sums[a], True
        if len(a) and a[-1] - a[0] == len(a) - 1 and np.all(np.diff(a) == 1):
            run = slice(int(a[0]), int(a[-1]) + 1)
            return self._values[run], self._sums[run], True
        return self._values[a], self._sums[a], False

    def _score_and_learn_accepted(
        self, a: Rows, v: Floats, nearest: Nearest | None = None, scores: bool = True
    ) -> tuple[Floats, Floats, Floats, Floats, Floats]:
        """Score then learn the accepted points ``v`` of rows ``a``. ``nearest`` pushes the
        points and finds their nearest windows (default: :meth:`_nearest`); without
        ``scores`` the probabilities are not computed (0: a warm-up reads none).

        The state of rows ``a`` may be read through views (``a`` a slice): each is read
        before it is written, never after."""
        cfg = self.config
        w = cfg.window
        f = self._f
        resumed = self._i["held"][a] > 0
        if resumed.any():
            self._resume(np.arange(a.start, a.stop)[resumed] if isinstance(a, slice)
                         else a[resumed])
        n = self._i["n"][a]
        first = n == 0
        f["level"][a] = np.where(first, v, f["level"][a])
        f["last"][a] = np.where(first, v, f["last"][a])
        f["offset"][a] = np.where(first, v, f["offset"][a])
        level = f["level"][a]
        deviation = f["deviation"][a]
        step_scale = f["step"][a]
        offset = f["offset"][a]

        floor = np.maximum(cfg.min_scale, cfg.relative_min_scale * np.abs(level))
        value_sigma = np.maximum(deviation * MAD_TO_STD, floor)
        step_sigma = np.maximum(step_scale * MAD_TO_STD, floor)
        residual = v - level
        step = v - f["last"][a]
        zvalue = np.abs(residual) / value_sigma

        best, expected, has = (nearest or self._nearest)(a, v, n, offset)

        # Likelihood layer.
        learned = self._i["learned"][a]
        distance = np.sqrt(best / w) / step_sigma
        raw = np.log1p(np.minimum(distance, cfg.raw_cap))
        z = self._likelihood(a, has, learned, raw)
        ready = has & (n >= self.warmup)
        probability = np.where(ready, z_probability(z), 0.0) if scores else np.zeros(len(v))
        self._i["learned"][a] = learned + has
        self._i["taught"][a] += 1

        onset = self._onset(a, probability, z, ready)

        # Level and scales.
        n1 = n + 1
        level_rate = np.maximum(cfg.level_fading, 1.0 / n1)
        scale_rate = np.maximum(cfg.scale_fading, 1.0 / np.maximum(n, 1))
        warm = n1 > cfg.model_warmup
        bound = cfg.huber * value_sigma
        step_bound = cfg.huber * step_sigma
        clipped = np.where(warm, np.clip(residual, -bound, bound), residual)
        deviation_in = np.where(warm, np.minimum(np.abs(residual), bound), np.abs(residual))
        step_in = np.where(warm, np.minimum(np.abs(step), step_bound), np.abs(step))
        learn = n > 0
        f["level"][a] = np.where(learn, level + level_rate * clipped, level)
        f["deviation"][a] = np.where(
            learn, deviation + scale_rate * (deviation_in - deviation), deviation
        )
        f["step"][a] = np.where(learn, step_scale + scale_rate * (step_in - step_scale), step_scale)
        f["last"][a] = v
        self._i["n"][a] = n1
        return expected, z, probability, onset, zvalue

    def _nearest(self, a: Rows, v: Floats, n: Ints, offset: Floats) -> tuple[Floats, Floats, Bools]:
        """Push the ``n``-th values ``v`` of rows ``a`` (see :meth:`_push`) and find each
        one's nearest window: its sum of squares, the value that followed it (the expected
        value) and whether there is a candidate at all."""
        w, h, lags = self.config.window, self.config.history, self.config.lags
        values, sums, view, valid, offset, j = self._push(a, v, n, offset, nearest=True)
        each = np.arange(len(v))
        best = sums[each, j].astype(np.float64)
        has = valid > 0
        expected = np.where(has, values[each, j + h - w - lags].astype(np.float64) + offset, v)
        self._store(a, values, sums, view)
        return best, expected, has

    def _push(
        self, a: Rows, v: Floats, n: Ints, offset: Floats, nearest: bool = False
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], bool, Ints, Floats, Ints]:
        """NoveltyModel._push on rows ``a`` (their ``n``-th values ``v``): the history and
        window sums (views or copies, see :meth:`_store`), the valid candidates, the offsets
        and, if ``nearest``, the column of each row's nearest window (see :func:`_nearest_column`;
        else empty)."""
        cfg = self.config
        w, h, lags = cfg.window, cfg.history, cfg.lags
        values, sums, view = self._history(a)
        x = np.clip(v - offset, -VALUE_RANGE, VALUE_RANGE).astype(np.float32)
        before = np.clip(n - 2 * w + 1, 0, lags)
        valid = np.clip(n - 2 * w + 2, 0, lags)
        low = lags - int(before.max(initial=0))
        # With all the candidates of some row up to date, the slide finds the nearest window
        # of every row while its sums are in the CPU's cache; the rows whose sums change
        # after it, or with fewer candidates, look again below.
        j = np.empty(len(v) if nearest and low == 0 else 0, dtype=np.intp)
        self._slide(values, sums, x, low, j)
        grown = valid > before
        if grown.all() and valid.min() == valid.max():  # one new candidate, the same for all
            lag = w + int(valid[0]) - 1
            total = np.zeros(len(v), dtype=np.float32)
            diff = np.empty(len(v), dtype=np.float32)
            for k in range(w):
                np.subtract(values[:, h - 1 - k], values[:, h - 1 - k - lag], out=diff)
                diff *= diff
                total += diff
            sums[:, lags - int(valid[0])] = total
        elif grown.any():
            which = np.nonzero(grown)[0]
            lags_of = w + valid[which] - 1
            total = np.zeros(len(which), dtype=np.float32)
            for k in range(w):
                diff = values[which, h - 1 - k] - values[which, h - 1 - k - lags_of]
                total += diff * diff
            sums[which, lags - valid[which]] = total
        refresh = (n + 1) % cfg.refresh == 0
        if refresh.any():
            values[refresh], sums[refresh], offset = self._recentre(
                values[refresh], offset, v, refresh
            )
            self._f["offset"][a] = offset
        if nearest:
            start = lags - int(valid.max(initial=1))  # no candidate before this column
            if len(j) == 0:
                j = _nearest_column(sums, valid, start)
            else:
                again = np.flatnonzero(grown | refresh | (valid < lags))
                if len(again):
                    j[again] = _nearest_column(sums[again], valid[again], start)
        return values, sums, view, valid, offset, j

    CHUNK = 256
    """Rows pushed together (their history and sums stay in the CPU's cache)."""

    def _slide(
        self, values: NDArray[np.float32], sums: NDArray[np.float32], x: NDArray[np.float32],
        low: int, nearest: NDArray[np.intp],
    ) -> None:
        """Push ``x`` into the history ``values`` (in place), then update the window sums of
        candidates ``low:``: plus the square of the new point's distance, minus that of the
        point leaving the window, never below 0; then, if ``nearest`` has one entry per row,
        the column of each row's smallest sum into it. A chunk of rows at a time, in scratch
        arrays, all steps on a chunk while it is in the CPU's cache."""
        w, h, lags = self.config.window, self.config.history, self.config.lags
        width = lags - low
        chunk = max(1, min(self.CHUNK, len(values)))
        new = np.empty((chunk, width), dtype=np.float32)
        old = np.empty((chunk, width), dtype=np.float32)
        zero = np.zeros((chunk, width), dtype=np.float32)  # faster than a scalar 0
        for start in range(0, len(values), chunk):
            rows = slice(start, start + chunk)
            block = values[rows]
            block[:, :-1] = block[:, 1:]  # an overlapping copy: in pieces
            block[:, -1] = x[rows]
            if not width:
                continue
            part = sums[rows, low:]
            count = len(part)
            n_, o_ = new[:count], old[:count]
            np.subtract(x[rows, None], block[:, h - w - width : h - w], out=n_)
            np.subtract(block[:, h - 1 - w, None], block[:, h - 2 * w - width : h - 2 * w],
                        out=o_)
            np.multiply(n_, n_, out=n_)
            np.multiply(o_, o_, out=o_)
            np.add(part, n_, out=part)
            np.subtract(part, o_, out=part)
            np.maximum(part, zero[:count], out=part)
            if len(nearest):
                np.argmin(part, axis=1, out=nearest[rows])

    def _store(
        self, a: Rows, values: NDArray[np.float32], sums: NDArray[np.float32], view: bool
    ) -> None:
        """Write back what :meth:`_history` gave as copies."""
        if not view:
            self._values[a] = values
            self._sums[a] = sums

    def _resume(self, a: Ints) -> None:
        """Learning resumes on rows ``a`` (see NoveltyModel.update): their held values join
        the history, and the recent novelty restarts from its long-run mean."""
        f, i = self._f, self._i
        count = i["held"][a]
        for k in range(self.config.window):
            b = a[(count > k) & (i["n"][a] > 0)]
            if len(b):
                v = self._held[b, k]
                values, sums, view, _, _, _ = self._push(b, v, i["n"][b], f["offset"][b])
                self._store(b, values, sums, view)
                i["n"][b] += 1
                f["last"][b] = v
        i["held"][a] = 0
        f["short"][a] = f["mean"][a]

    def _score_held(self, a: Ints, v: Floats) -> tuple[Floats, Floats, Floats, Floats, Floats]:
        """NoveltyModel._score_held on rows ``a``: ``v`` scored against the model as it was."""
        cfg = self.config
        w, h, lags = cfg.window, cfg.history, cfg.lags
        f, i = self._f, self._i
        count = i["held"][a]
        held = self._held[a]
        full = count >= w
        held[full, :-1] = held[full, 1:]
        each = np.arange(len(a))
        held[each, np.minimum(count, w - 1)] = v
        count = np.minimum(count + 1, w)
        self._held[a], i["held"][a] = held, count
        level, offset = f["level"][a], f["offset"][a]
        floor = np.maximum(cfg.min_scale, cfg.relative_min_scale * np.abs(level))
        value_sigma = np.maximum(f["deviation"][a] * MAD_TO_STD, floor)
        step_sigma = np.maximum(f["step"][a] * MAD_TO_STD, floor)
        zvalue = np.abs(v - level) / value_sigma
        n = i["n"][a]
        valid = np.clip(n - 2 * w + 1, 0, lags)  # the last learned point's candidates
        has = valid > 0
        # The current window: the last learned values followed by the held ones.
        history = self._values[a]
        recent = np.clip(held - offset[:, None], -VALUE_RANGE, VALUE_RANGE).astype(np.float32)
        joined = np.concatenate([history[:, h - w :], recent], axis=1)
        current = np.take_along_axis(joined, count[:, None] + np.arange(w), axis=1)
        # Candidate c ends w + lags - 1 - c points before the last learned value.
        sums = np.zeros((len(a), lags), dtype=np.float32)
        for k in range(w):
            gap = history[:, 1 + k : 1 + k + lags] - current[:, k, None]
            sums += gap * gap
        region = np.where(np.arange(lags) >= (lags - valid)[:, None], sums, np.inf)
        j = np.argmin(region, axis=1)
        distance = np.sqrt(sums[each, j].astype(np.float64) / w) / step_sigma
        expected = np.where(has, history[each, j + h - w - lags].astype(np.float64) + offset, v)
        raw = np.log1p(np.minimum(distance, cfg.raw_cap))
        mean, short = f["mean"][a], f["short"][a]
        std = np.maximum(np.sqrt(np.maximum(f["var"][a], 0.0)), cfg.min_std)
        # Bounded like what is learned (``winsor``), as the per-stream model does.
        short = np.where(
            has, np.minimum(short + cfg.short_fading * (raw - short), mean + cfg.winsor * std),
            short,
        )
        f["short"][a] = short
        z = np.where(has, (short - mean) / std, 0.0)
        ready = has & (n >= self.warmup)
        probability = np.where(ready, z_probability(z), 0.0)
        return expected, z, probability, self._onset(a, probability, z, ready), zvalue

    def _onset(self, a: Rows, probability: Floats, z: Floats, ready: NDArray[np.bool_]) -> Floats:
        """NoveltyModel._onset on rows ``a``: the onset scores, counting down the refractory
        points."""
        quiet = self._i["quiet"][a]
        counting = quiet > 0
        self._i["quiet"][a] = np.where(
            counting, quiet - 1, np.where(ready & (z >= self.config.onset_z),
                                          self.config.refractory, 0)
        )
        return np.where(counting, 0.0, probability)

    def _likelihood(
        self, a: Rows, has: NDArray[np.bool_], learned: Ints, raw: Floats
    ) -> Floats:
        """NoveltyModel._likelihood on rows ``a`` (learning where ``has``): the z of ``raw``."""
        cfg = self.config
        f = self._f
        short_old, mean, var = f["short"][a], f["mean"][a], f["var"][a]
        young = learned == 0
        short = np.where(young, raw, short_old + cfg.short_fading * (raw - short_old))
        std = np.maximum(np.sqrt(np.maximum(var, 0.0)), cfg.min_std)
        z = np.where(has & ~young, (short - mean) / std, 0.0)
        learn = short if cfg.learn_short else raw
        winsorized = np.where(young, learn, np.minimum(learn, mean + cfg.winsor * std))
        rate = np.maximum(cfg.long_fading, 1.0 / (learned + 1.0))
        diff = winsorized - mean
        increment = rate * diff
        f["mean"][a] = np.where(has, np.where(young, winsorized, mean + increment), mean)
        f["var"][a] = np.where(
            has, np.where(young, 0.0, (1.0 - rate) * (var + diff * increment)), var
        )
        f["short"][a] = np.where(has, short, short_old)
        return z

    def _recentre(
        self, values: NDArray[np.float32], offset: Floats, v: Floats, rows: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], Floats]:
        """NoveltyModel._recentre on the rows ``rows``: new offsets, exact window sums."""
        cfg = self.config
        w, h, lags = cfg.window, cfg.history, cfg.lags
        shifted = values.astype(np.float64) + (offset[rows] - v[rows])[:, None]
        recentred = np.clip(shifted, -VALUE_RANGE, VALUE_RANGE).astype(np.float32)
        sums = np.zeros((len(recentred), lags), dtype=np.float32)
        for k in range(w):
            end = h - k
            diff = recentred[:, end - 1, None] - recentred[:, h - lags - w - k : end - w]
            sums += diff * diff
        return recentred, sums, np.where(rows, v, offset)


def _nearest_column(sums: NDArray[np.float32], valid: Ints, start: int) -> Ints:
    """The column of each row's nearest window: the first smallest of its ``valid`` last
    sums, looking no further left than ``start`` (``start`` where a row has none)."""
    lags = sums.shape[1]
    region = sums[:, start:]
    if valid.min(initial=lags) < lags - start:  # rows with fewer candidates than others
        columns = np.arange(start, lags)
        region = np.where(columns >= (lags - valid)[:, None], region, np.inf)
    return np.argmin(region, axis=1) + start  # type: ignore[no-any-return]


def _first_minimum(region: NDArray[np.float32]) -> Ints:
    """``np.argmin(region, axis=0)`` for NaN-free ``region``, faster: along the first axis
    numpy's argmin copies the array transposed, while the minimum, a comparison and a
    maximum run along the contiguous rows. The first row that holds the minimum is the one
    whose countdown (rows from the end) is the largest.

    >>> region = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.5], [1.0, 4.0, 0.5]], np.float32)
    >>> _first_minimum(region).tolist(), np.argmin(region, axis=0).tolist()
    ([1, 0, 1], [1, 0, 1])
    """
    count = len(region)
    if count == 0:
        raise ValueError("no candidates")
    countdown = np.arange(count, 0, -1, dtype=np.int32 if count > 32767 else np.int16)
    lowest = np.minimum.reduce(region, axis=0)
    marks = (region == lowest) * countdown[:, None]
    return np.asarray(count - np.maximum.reduce(marks, axis=0), dtype=np.int64)


class _LagMajor:
    """A block of a bank's rows warmed together (:meth:`DetectorBank.warm_up`), their history
    and window sums laid out lag-major: one row per time step or candidate, one column per
    stream. Every vector operation then runs along the streams, contiguous in memory, and
    the history is a window that slides down a taller buffer (``segment`` more time steps)
    instead of being shifted at every point. The arithmetic is :meth:`DetectorBank._nearest`'s,
    element by element, in the same order: the same numbers.

    Streams advance together: one that learns nothing at a step (its point absent or
    rejected) keeps its history and sums by copy, unless it has learned nothing yet (all
    zeros, which the step leaves as they are).
    """

    LAG_CHUNK_BYTES = 256 * 1024
    """Size of the candidates' rows updated together (they stay in the CPU's cache)."""

    def __init__(self, bank: DetectorBank, rows: Ints, segment: int) -> None:
        cfg = bank.config
        h = cfg.history
        self.bank, self.rows, self.count = bank, rows, len(rows)
        self.buffer = np.zeros((h + max(segment, 1), self.count), dtype=np.float32)
        self.buffer[:h] = bank._values[rows].T
        self.sums = np.ascontiguousarray(bank._sums[rows].T)
        self.pos = 0
        """The history of the streams is ``buffer[pos : pos + history]``."""
        self.current = np.zeros(0, dtype=np.int64)
        """The columns of the streams that learn at this step."""
        height = max(1, min(cfg.lags, self.LAG_CHUNK_BYTES // (4 * max(self.count, 1))))
        self._new = np.empty((height, self.count), dtype=np.float32)
        self._old = np.empty((height, self.count), dtype=np.float32)
        self._zero = np.zeros((height, self.count), dtype=np.float32)  # faster than a scalar

    def learn(self, t: Floats, v: Floats) -> None:
        """One step: the point of each stream (a NaN timestamp: none), gated then learned."""
        present = np.flatnonzero(~np.isnan(t))
        if not len(present):
            return
        accepted = self.bank._gate(self.rows[present], t[present], v[present])
        self.current = present[accepted]
        if len(self.current):
            self.bank._score_and_learn_accepted(
                self.rows[self.current], v[self.current], self._nearest, scores=False
            )

    def finish(self) -> None:
        """Write the history and sums back into the bank's rows."""
        h = self.bank.config.history
        self.bank._values[self.rows] = self.buffer[self.pos : self.pos + h].T
        self.bank._sums[self.rows] = self.sums.T

    def _columns(self, which: Ints) -> Ints | slice:
        return slice(None) if len(which) == self.count else which

    def _nearest(self, a: Rows, v: Floats, n: Ints, offset: Floats) -> tuple[Floats, Floats, Bools]:
        bank, cfg = self.bank, self.bank.config
        w, h, lags = cfg.window, cfg.history, cfg.lags
        p = self.current
        x = np.clip(v - offset, -VALUE_RANGE, VALUE_RANGE).astype(np.float32)
        moving = np.zeros(self.count, dtype=np.bool_)
        moving[p] = True
        stay = np.flatnonzero(~moving & (bank._i["n"][self.rows] > 0))
        if self.pos + h == len(self.buffer):  # the bottom is reached: back to the top
            self.buffer[:h] = self.buffer[self.pos : self.pos + h]
            self.pos = 0
        kept = self.buffer[self.pos : self.pos + h, stay]
        saved = self.sums[:, stay]
        self.pos += 1
        column = np.zeros(self.count, dtype=np.float32)
        column[p] = x
        self.buffer[self.pos + h - 1] = column
        values = self.buffer[self.pos : self.pos + h]
        if len(stay):
            values[:, stay] = kept
        before = np.clip(n - 2 * w + 1, 0, lags)
        valid = np.clip(n - 2 * w + 2, 0, lags)
        low = lags - int(before.max(initial=0))
        if low < lags:
            self._slide(values, column, low)
        grown = valid > before
        for count in np.unique(valid[grown]).tolist():
            which = self._columns(p[grown & (valid == count)])
            lag = w + count - 1
            total = np.zeros(len(self.buffer[0, which]), dtype=np.float32)
            for k in range(w):
                diff = values[h - 1 - k, which] - values[h - 1 - k - lag, which]
                total += diff * diff
            self.sums[lags - count, which] = total
        if len(stay):
            self.sums[:, stay] = saved
        refresh = (n + 1) % cfg.refresh == 0
        if refresh.any():
            which = p[refresh]
            recentred, sums, offset = bank._recentre(values[:, which].T, offset, v, refresh)
            values[:, which], self.sums[:, which] = recentred.T, sums.T
            bank._f["offset"][a] = offset
        start = lags - int(valid.max(initial=1))  # no candidate before this row
        columns = self._columns(p)
        region = self.sums[start:, columns]
        if valid.min(initial=lags) < lags - start:  # streams with fewer candidates
            candidates = np.arange(start, lags)[:, None]
            region = np.where(candidates >= (lags - valid)[None, :], region, np.inf)
        j = _first_minimum(region) + start
        best = self.sums[j, p].astype(np.float64)
        has = valid > 0
        expected = np.where(has, values[j + h - w - lags, p].astype(np.float64) + offset, v)
        return best, expected, has

    def _slide(self, values: NDArray[np.float32], x: NDArray[np.float32], low: int) -> None:
        """:meth:`DetectorBank._slide`, lag-major: a few candidates (rows) at a time."""
        w, h, lags = self.bank.config.window, self.bank.config.history, self.bank.config.lags
        width = lags - low
        rows = len(self._new)
        for top in range(0, width, rows):
            bottom = min(top + rows, width)
            part = self.sums[low + top : low + bottom]
            new, old = self._new[: bottom - top], self._old[: bottom - top]
            first = h - w - width
            np.subtract(x, values[first + top : first + bottom], out=new)
            np.subtract(values[h - 1 - w], values[first - w + top : first - w + bottom], out=old)
            np.multiply(new, new, out=new)
            np.multiply(old, old, out=old)
            np.add(part, new, out=part)
            np.subtract(part, old, out=part)
            np.maximum(part, self._zero[: bottom - top], out=part)


def bank_scores(
    timestamps: Sequence[float] | Floats,
    values: Sequence[float] | Floats,
    config: NoveltyConfig | None = None,
) -> Floats:
    """Probabilities of one stream run through a one-row bank (for evaluation)."""
    bank = DetectorBank(config)
    rows = bank.add_streams(["stream"])
    t = np.asarray(timestamps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(len(t))
    for j in range(len(t)):
        out[j] = bank.score_and_learn(rows, t[j : j + 1], v[j : j + 1]).probability[0]
    return out
