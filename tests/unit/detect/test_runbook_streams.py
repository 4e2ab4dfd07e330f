"""The streams of one Runbook: the bank path and the per-stream path give the same verdicts."""

from __future__ import annotations

import pytest

from kubeheal.api.runbook import DetectionSettings, Signal
from kubeheal.detect.alarms import directional, new_detector
from kubeheal.detect.runbook import RunbookStreams
from unit.detect.test_bank import messy_streams

SIGNALS = [
    Signal(name="errors", query="e", bad_direction="up"),
    Signal(name="latency", query="l", bad_direction="up", threshold=2500.0),
    Signal(name="load", query="r", role="load"),
]
WORKLOADS = [f"w{k}" for k in range(8)]


def run(vectorized: bool,
        detection: DetectionSettings) -> tuple[list[str], RunbookStreams, int]:
    """Warm, then tick: both through RunbookStreams, as the evaluator calls it."""
    streams = RunbookStreams("shop", "web", detection, vectorized=vectorized)
    data = {s.name: messy_streams(len(WORKLOADS), 700, seed=k) for k, s in enumerate(SIGNALS)}
    history = 240
    for signal in SIGNALS:
        times, values = data[signal.name]
        # w7 comes later and cold; w6 has a short history; w0 none.
        known = WORKLOADS[:-1]
        past = {w: list(zip(times[k, :history], values[k, :history], strict=True))
                for k, w in enumerate(known) if w != "w0"}
        past["w6"] = past["w6"][-60:]
        streams.add(streams.warm(signal.name, streams.missing(signal.name, known), past))
    seen = []
    for j in range(history, 700):
        if j == 400:
            for signal in SIGNALS:
                streams.add(streams.warm(signal.name, ["w7"], {}))
        points = {
            s.name: {w: (float(data[s.name][0][k, j]), float(data[s.name][1][k, j]))
                     for k, w in enumerate(WORKLOADS) if (k + j) % 11}  # some points missing
            for s in SIGNALS
        }
        # w1 stops learning for a while (an incident of its own), w2 only its errors.
        learn = {("w1", s.name): not 450 <= j < 520 for s in SIGNALS}
        learn[("w2", "errors")] = j % 3 > 0
        verdicts = streams.observe(SIGNALS, points, [*WORKLOADS[:-2], "w7"], learn)
        seen += [repr(v) for v in verdicts]
    calm = sum(1 for s in streams.streams.values() if s.pending)
    seen += [repr((key, s.last, streams.learned(*key), streams.ready(*key)))
             for key, s in sorted(streams.streams.items())]
    return seen, streams, calm


@pytest.mark.parametrize("warmup", [150, 30])
def test_bank_and_per_stream_paths_give_the_same_verdicts(warmup: int) -> None:
    detection = DetectionSettings(warmup_points=warmup, sensitivity=0.8)
    bank, banked, calm = run(True, detection)
    per_stream, single, _ = run(False, detection)
    assert banked.bank is not None and single.bank is None
    assert calm > 0  # the bank skipped the debouncers of calm streams at the last tick
    assert bank == per_stream  # verdicts, explanations, scores, learned points: every bit
    alarms = [line for line in bank if "alarm=True" in line]
    assert alarms, "the streams must raise alarms for the comparison to mean something"
    assert banked.ready_count() == single.ready_count() > 0


def grown_run(vectorized: bool) -> tuple[list[str], int]:
    """Ticks where some workloads are calm and some busy, with workloads joining between
    ticks (their names sorting among the others'), and streams read at times of their own."""
    detection = DetectionSettings(warmup_points=30, sensitivity=0.8)
    streams = RunbookStreams("shop", "web", detection, vectorized=vectorized)
    names = ["b", "d", "f", "h", "a", "c", "e", "g", "i"]  # the last five join later
    data = {s.name: messy_streams(len(names), 500, seed=10 + k) for k, s in enumerate(SIGNALS)}
    history = 120

    for signal in SIGNALS:
        times, values = data[signal.name]
        streams.add(streams.warm(signal.name, names[:4], {
            w: list(zip(times[k, :history], values[k, :history], strict=True))
            for k, w in enumerate(names[:4])}))
    seen: list[str] = []
    mixed = 0
    for j in range(history, 500):
        if j in (200, 300):  # a, c then e, g, i join: warmed from their own history
            joining = names[4:6] if j == 200 else names[6:]
            for signal in SIGNALS:
                times, values = data[signal.name]
                streams.add(streams.warm(signal.name, streams.missing(signal.name, joining), {
                    w: list(zip(times[names.index(w), j - history:j],
                                values[names.index(w), j - history:j], strict=True))
                    for w in joining}))
        live = sorted({w for (w, _) in streams.streams})
        points = {
            s.name: {w: (float(data[s.name][0][names.index(w), j]),
                         float(data[s.name][1][names.index(w), j]))
                     for w in reversed(live) if (names.index(w) + j) % 7}
            for s in SIGNALS
        }
        verdicts = streams.observe(SIGNALS, points)
        if vectorized and 0 < len(verdicts.made) < len(verdicts):
            mixed += 1
        seen.append(repr([(v.workload, v.alarm, v.incident) for v in verdicts]))
        seen.append(repr(verdicts.scores()))
        seen.append(repr(([v.workload for v in verdicts.alarms],
                          [verdicts.get(w) for w in ("a", "e", "z")], verdicts[-1:])))
        if j % 5 == 0:  # some streams read now, the others later: the same verdicts
            seen += [repr(streams.streams[(w, s.name)].last) for w in live[::2] for s in SIGNALS]
    seen += [repr((key, s.last, streams.learned(*key)))
             for key, s in sorted(streams.streams.items())]
    return seen, mixed


def test_calm_and_busy_workloads_and_workloads_that_join_score_as_per_stream() -> None:
    bank, mixed = grown_run(True)
    per_stream, _ = grown_run(False)
    assert mixed > 100  # most ticks had both calm workloads and busy ones
    assert len(bank) == len(per_stream)
    for line, expected in zip(bank, per_stream, strict=True):
        assert line == expected
    assert any("'i', True" in line for line in bank), "a late workload must alarm too"


def test_a_detector_without_a_bank_keeps_one_detector_per_stream() -> None:
    streams = RunbookStreams("shop", "web", DetectionSettings(detector="hst"))
    assert streams.bank is None and not streams.vectorized
    streams.add(streams.warm("errors", ["a"], {"a": [(15.0 * i, 1.0) for i in range(30)]}))
    assert streams.streams[("a", "errors")].detector is not None
    assert streams.learned("a", "errors") == 30


def test_a_retired_detector_name_is_served_by_the_default_bank() -> None:
    streams = RunbookStreams("shop", "web", DetectionSettings(detector="robust"))
    assert streams.spec.name == "novelty" and streams.bank is not None


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_stream_that_does_not_learn_is_scored_as_its_detector_holds_learning(
    vectorized: bool,
) -> None:
    detection = DetectionSettings(warmup_points=100)
    times, values = messy_streams(2, 400, seed=9)
    history = {w: list(zip(times[k, :300], values[k, :300], strict=True))
               for k, w in enumerate(["a", "b"])}
    held, learning = (RunbookStreams("shop", "web", detection, vectorized=vectorized)
                      for _ in range(2))
    for streams in (held, learning):
        streams.add(streams.warm("s", ["a", "b"], history))
    alone, _ = new_detector(detection)  # the per-stream reference of a's rules
    alone.warm_up(history["a"])
    signal = [Signal(name="s", query="q")]
    for j in range(300, 400):
        point = {w: (float(times[k, j]), float(values[k, j])) for k, w in enumerate("ab")}
        during = 320 <= j < 360
        before = held.learned("a", "s")
        held.observe(signal, {"s": point}, learn={("a", "s"): not during})
        learning.observe(signal, {"s": point})
        a, b, c = (s.streams[key].last for s, key in
                   ((held, ("a", "s")), (held, ("b", "s")), (learning, ("b", "s"))))
        assert a is not None and b is not None and c is not None
        reference = directional(alone.update(*point["a"], learn=not during), signal[0])
        assert repr(a.score.probability) == repr(reference.probability)
        assert repr(a.score.expected) == repr(reference.expected)
        assert b.score == c.score  # the other workload's stream is not held
        if during and a.score.ready:
            assert held.learned("a", "s") == before
    assert held.learned("a", "s") == alone.learned < learning.learned("a", "s")
    assert held.learned("b", "s") == learning.learned("b", "s")


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_stream_is_not_ready_before_its_model_can_tell_a_fault(vectorized: bool) -> None:
    """A runbook may ask for fewer warm-up points than the model needs: the stream is then not
    ready until the model has learned its own, and from then on a step stands out."""
    detection = DetectionSettings(warmup_points=12, debounce_k=2, debounce_n=3)
    latency = [Signal(name="latency", query="q", bad_direction="up")]
    streams = RunbookStreams("shop", "web", detection, vectorized=vectorized)
    # A young workload: 22 points of flat latency with a little noise.
    flat = [(5.0 * i, 0.095 + 0.0005 * ((i * 7) % 3 - 1)) for i in range(22)]
    streams.add(streams.warm("latency", ["web"], {"web": flat}))
    assert streams.ready_count() == 0
    t = 5.0 * 22
    while not streams.ready("web", "latency"):
        streams.observe(latency, {"latency": {"web": (t, flat[int(t / 5) % 22][1])}})
        t += 5.0
    assert streams.learned("web", "latency") == 30
    alarms = []
    for _ in range(3):  # latency six times higher
        verdicts = streams.observe(latency, {"latency": {"web": (t, 0.58)}})
        alarms.append(verdicts[0].alarm)
        t += 5.0
    assert any(alarms), alarms
