"""How a simulated pod behaves: its request rate, errors, latency and memory, given pod facts
and the time. Pure: no clock, no I/O, no global state.

The model is deliberately simple and monotone so that each fault has one remedy:

- **load**: a Deployment serves ``load`` requests/s in total, spread over its ready pods. A pod's
  median latency grows like an M/M/1 queue, ``base / (1 - rho)`` with ``rho = rate / capacity``
  (capped), so adding replicas lowers latency (scale-out fixes saturation). Errors stay flat.
- **bad build** (template annotation ``demo.kubeheal.io/fault: bad-build`` or an image tag
  ending in ``-bad``): ~30 % 5xx and three times the latency. Pods of the previous good template
  are healthy, so a rollback fixes it.
- **memory leak** (``demo.kubeheal.io/fault: leak``): memory grows linearly from the
  container's start (default 100 MiB + 2 MiB/s) up to the limit; past 70 % of the limit
  latency and errors rise. A replaced pod starts fresh, so a restart fixes it for a while.
  With ``demo.kubeheal.io/leak-plateau-mib`` the leak saturates at that working set. A
  container that declares a memory limit is OOM-killed when its memory reaches the limit
  (:func:`oom_due`; the service then writes the kill on the pod's status) and starts again
  from 100 MiB, so the kills go on until the limit is above the plateau. As annotations of
  the pod template, every new pod of the template leaks: only a higher limit cures it.
- **healthy**: ~0.5 % 5xx, median latency 20 ms at no load (40 ms at half capacity), memory
  ~100 MiB, each with small noise.

Noise is a deterministic function of the seed, the pod and the whole second, so two runs with the
same seed agree. Counters are accumulated by :class:`PodCounters` as expected counts (rate times
elapsed time, split over histogram buckets by the latency distribution), so they are monotonic
and PromQL ``rate()`` recovers the modelled rates exactly.

>>> pod = PodFacts("shop", "checkout", "checkout-1", started_at=0.0)
>>> w = Workload("shop", "checkout", load=20.0, capacity=40.0, pods=(pod,))
>>> b = behave(w, pod, now=10.0, seed=1)
>>> round(b.request_rate, 1), b.error_ratio < 0.01, 0.035 < b.latency_median < 0.045
(20.0, True, True)
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MIB = 1024 * 1024

LOAD_ANNOTATION = "demo.kubeheal.io/load"
CAPACITY_ANNOTATION = "demo.kubeheal.io/capacity"
FAULT_ANNOTATION = "demo.kubeheal.io/fault"
LEAK_RATE_ANNOTATION = "demo.kubeheal.io/leak-mib-per-second"
LEAK_PLATEAU_ANNOTATION = "demo.kubeheal.io/leak-plateau-mib"
DEMO_LABEL = "kubeheal.io/demo"

DEFAULT_LOAD = 50.0
DEFAULT_CAPACITY = 40.0
DEFAULT_LEAK_RATE = 2.0 * MIB
DEFAULT_MEMORY_LIMIT = 512.0 * MIB

BASE_LATENCY = 0.020
LATENCY_SIGMA = 0.35  # log-normal spread: p99 is about 2.3 times the median
BASE_ERROR_RATIO = 0.005
BASE_MEMORY = 100.0 * MIB
RHO_MAX = 0.95  # queueing factor capped at 1 / (1 - RHO_MAX) = 20
BAD_BUILD_ERROR_RATIO = 0.30
BAD_BUILD_LATENCY_FACTOR = 3.0
PRESSURE_START = 0.7  # share of the memory limit past which a leaking pod suffers

# Histogram buckets (seconds) suited to 5 ms .. 5 s.
BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 1.5, 2.5, 5.0,
)


class Fault(enum.StrEnum):
    """The fault a pod's template carries."""

    NONE = "none"
    BAD_BUILD = "bad-build"
    LEAK = "leak"


def fault_of(annotations: Mapping[str, str], images: Sequence[str] = ()) -> Fault:
    """The fault of a pod from its (template) annotations and container images.

    >>> fault_of({FAULT_ANNOTATION: "leak"})
    <Fault.LEAK: 'leak'>
    >>> fault_of({}, ["registry.example/checkout:1.4-bad"])
    <Fault.BAD_BUILD: 'bad-build'>
    >>> fault_of({FAULT_ANNOTATION: "something-else"}, ["registry.example/checkout:1.4"])
    <Fault.NONE: 'none'>
    """
    value = annotations.get(FAULT_ANNOTATION, "").strip().lower()
    if value in (Fault.BAD_BUILD, Fault.LEAK):
        return Fault(value)
    for image in images:
        name = image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last and last.rsplit(":", 1)[1].endswith("-bad"):
            return Fault.BAD_BUILD
    return Fault.NONE


def positive_number(text: str | None, default: float) -> float:
    """An annotation's value as a positive float, or ``default`` when absent or invalid.

    >>> positive_number("120", 50.0), positive_number("-3", 50.0), positive_number(None, 50.0)
    (120.0, 50.0, 50.0)
    """
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


@dataclass(frozen=True)
class PodFacts:
    """What the model needs to know about one running pod."""

    namespace: str
    deployment: str
    pod: str
    started_at: float  # seconds since the epoch
    ready: bool = True
    fault: Fault = Fault.NONE
    restarts: int = 0
    memory_limit: float = DEFAULT_MEMORY_LIMIT  # bytes
    leak_rate: float = DEFAULT_LEAK_RATE  # bytes per second, for a leaking pod
    leak_plateau: float | None = None  # bytes at which the leak saturates (None: never)
    container: str = ""  # the container whose memory limit counts
    limited: bool = False  # it declares a memory limit: reaching it is an OOM kill
    container_started_at: float | None = None  # its current run began (after a restart)

    @property
    def running_since(self) -> float:
        """When the memory started growing: the container's last start, else the pod's."""
        return self.started_at if self.container_started_at is None \
            else self.container_started_at


@dataclass(frozen=True)
class Workload:
    """A Deployment: its offered load, per-pod capacity and running pods."""

    namespace: str
    deployment: str
    load: float = DEFAULT_LOAD  # requests/s across all pods
    capacity: float = DEFAULT_CAPACITY  # requests/s one pod serves before it queues
    pods: tuple[PodFacts, ...] = ()

    @property
    def ready_pods(self) -> int:
        return sum(1 for p in self.pods if p.ready)


@dataclass(frozen=True)
class Behaviour:
    """What one pod does at one moment."""

    request_rate: float  # requests/s
    error_ratio: float  # share of requests answered 5xx
    latency_median: float  # seconds; latencies are log-normal around it
    memory_bytes: float

    def latency_quantile(self, q: float) -> float:
        """The latency below which a share ``q`` of requests complete.

        >>> b = Behaviour(10.0, 0.0, 0.03, 0.0)
        >>> round(b.latency_quantile(0.5), 3), round(b.latency_quantile(0.99), 3)
        (0.03, 0.068)
        """
        return self.latency_median * math.exp(LATENCY_SIGMA * _probit(q))

    def share_below(self, seconds: float) -> float:
        """The share of requests that complete within ``seconds``."""
        if seconds <= 0:
            return 0.0
        z = (math.log(seconds) - math.log(self.latency_median)) / LATENCY_SIGMA
        return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _probit(q: float) -> float:
    """Inverse of the standard normal CDF, by bisection (exact enough for a demo)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _noise(seed: int, pod: str, second: int, what: str) -> float:
    """A deterministic value in [-1, 1] for (seed, pod, second, what)."""
    key = f"{seed}/{pod}/{second}/{what}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big")).uniform(-1.0, 1.0)


def queueing_factor(rate: float, capacity: float) -> float:
    """How much slower a pod answers at ``rate`` requests/s given its ``capacity``.

    >>> queueing_factor(0.0, 40.0), queueing_factor(20.0, 40.0), round(queueing_factor(400.0, 40.0))
    (1.0, 2.0, 20)
    """
    rho = min(max(rate / capacity, 0.0), RHO_MAX)
    return 1.0 / (1.0 - rho)


def memory_bytes(pod: PodFacts, now: float) -> float:
    """Memory of a pod without noise: flat when healthy, growing from the container's start
    when leaking, up to the leak's plateau and at most the limit.

    >>> leaking = PodFacts("ns", "d", "p", started_at=100.0, fault=Fault.LEAK)
    >>> memory_bytes(leaking, 110.0) / MIB
    120.0
    >>> memory_bytes(leaking, 10_000.0) == leaking.memory_limit
    True
    >>> plateau = PodFacts("ns", "d", "p", started_at=100.0, fault=Fault.LEAK,
    ...                    leak_plateau=300 * MIB, container_started_at=200.0)
    >>> memory_bytes(plateau, 210.0) / MIB, memory_bytes(plateau, 10_000.0) / MIB
    (120.0, 300.0)
    """
    if pod.fault is not Fault.LEAK:
        return BASE_MEMORY
    age = max(now - pod.running_since, 0.0)
    grown = BASE_MEMORY + pod.leak_rate * age
    if pod.leak_plateau is not None:
        grown = min(grown, max(pod.leak_plateau, BASE_MEMORY))
    return min(grown, pod.memory_limit)


def oom_due(pod: PodFacts, now: float) -> bool:
    """Whether the pod's container reaches its declared memory limit at ``now``: the kernel
    would OOM-kill it. A container without a limit is never killed (the demo then caps its
    memory at :data:`DEFAULT_MEMORY_LIMIT`, under pressure).

    >>> pod = PodFacts("ns", "d", "p", started_at=0.0, fault=Fault.LEAK, limited=True,
    ...                memory_limit=256 * MIB, leak_rate=4 * MIB)
    >>> oom_due(pod, 38.0), oom_due(pod, 39.0)
    (False, True)
    >>> from dataclasses import replace
    >>> oom_due(replace(pod, leak_plateau=200 * MIB), 1000.0), oom_due(replace(pod,
    ...     limited=False), 1000.0)
    (False, False)
    """
    if not pod.limited or pod.fault is not Fault.LEAK:
        return False
    return memory_bytes(pod, now) >= pod.memory_limit and (
        pod.leak_plateau is None or pod.leak_plateau >= pod.memory_limit)


def memory_pressure(pod: PodFacts, used: float) -> float:
    """0 below 70 % of the limit, rising linearly to 1 at the limit."""
    start = PRESSURE_START * pod.memory_limit
    span = pod.memory_limit - start
    return min(max((used - start) / span, 0.0), 1.0) if span > 0 else 0.0


def behave(workload: Workload, pod: PodFacts, now: float, seed: int = 0) -> Behaviour:
    """How ``pod`` of ``workload`` behaves at ``now`` (seconds since the epoch).

    A pod that is not ready receives no requests. Noise is at most a few percent.

    >>> good = PodFacts("shop", "checkout", "good", started_at=0.0)
    >>> bad = PodFacts("shop", "checkout", "bad", started_at=0.0, fault=Fault.BAD_BUILD)
    >>> w = Workload("shop", "checkout", load=40.0, pods=(good, bad))
    >>> g, b = behave(w, good, 5.0), behave(w, bad, 5.0)
    >>> round(b.error_ratio, 1), round(b.latency_median / g.latency_median)
    (0.3, 3)
    """
    second = math.floor(now)
    ready = workload.ready_pods
    rate = workload.load / ready if pod.ready and ready else 0.0
    latency = BASE_LATENCY * queueing_factor(rate, workload.capacity)
    errors = BASE_ERROR_RATIO
    if pod.fault is Fault.BAD_BUILD:
        errors = BAD_BUILD_ERROR_RATIO
        latency *= BAD_BUILD_LATENCY_FACTOR
    memory = memory_bytes(pod, now)
    pressure = memory_pressure(pod, memory)
    latency *= 1.0 + 4.0 * pressure
    errors += 0.25 * pressure

    latency *= 1.0 + 0.05 * _noise(seed, pod.pod, second, "latency")
    errors *= 1.0 + 0.1 * _noise(seed, pod.pod, second, "errors")
    memory += 2.0 * MIB * _noise(seed, pod.pod, second, "memory")
    return Behaviour(
        request_rate=rate,
        error_ratio=min(max(errors, 0.0), 1.0),
        latency_median=latency,
        memory_bytes=max(memory, 0.0),
    )


@dataclass
class PodCounters:
    """The monotonic counters of one pod: requests by code and the latency histogram.

    :meth:`advance` adds the expected counts over ``dt`` seconds of a behaviour; counts are
    fractional, which the Prometheus exposition format allows.

    >>> c = PodCounters()
    >>> c.advance(Behaviour(100.0, 0.1, 0.03, 0.0), dt=2.0)
    >>> round(c.requests["200"], 6), round(c.requests["500"], 6), round(c.count, 6)
    (180.0, 20.0, 200.0)
    >>> c.buckets[-1] <= c.count and all(a <= b for a, b in zip(c.buckets, c.buckets[1:]))
    True
    """

    requests: dict[str, float] = field(default_factory=lambda: {"200": 0.0, "500": 0.0})
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))  # cumulative
    count: float = 0.0
    total_seconds: float = 0.0

    def advance(self, behaviour: Behaviour, dt: float) -> None:
        """Account for ``dt`` seconds of ``behaviour``; a negative ``dt`` counts as zero."""
        n = behaviour.request_rate * max(dt, 0.0)
        if n <= 0:
            return
        self.requests["500"] += n * behaviour.error_ratio
        self.requests["200"] += n * (1.0 - behaviour.error_ratio)
        for i, bound in enumerate(BUCKETS):
            self.buckets[i] += n * behaviour.share_below(bound)
        self.count += n
        # Mean of a log-normal distribution: median * exp(sigma^2 / 2).
        self.total_seconds += n * behaviour.latency_median * math.exp(LATENCY_SIGMA**2 / 2)


@dataclass(frozen=True)
class PodSample:
    """One pod at one scrape: its facts, current behaviour and accumulated counters."""

    pod: PodFacts
    behaviour: Behaviour
    counters: PodCounters


class Simulation:
    """The state of all simulated pods: what runs now and the counters of each pod.

    :meth:`observe` replaces the set of workloads (as the poller sees them); :meth:`sample`
    advances every pod's counters to ``now`` and returns a snapshot. A pod starts counting when
    it is first observed; a pod that disappears is forgotten. Not thread-safe: the caller locks.

    >>> sim = Simulation(seed=3)
    >>> pod = PodFacts("shop", "web", "web-1", started_at=0.0)
    >>> sim.observe([Workload("shop", "web", load=10.0, pods=(pod,))], now=100.0)
    >>> [round(s.counters.count) for s in sim.sample(now=110.0)]
    [100]
    >>> [round(s.counters.count) for s in sim.sample(now=111.0)]
    [110]
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._workloads: tuple[Workload, ...] = ()
        self._counters: dict[tuple[str, str], PodCounters] = {}
        self._last: dict[tuple[str, str], float] = {}

    def observe(self, workloads: Sequence[Workload], now: float) -> None:
        """Replace the workloads; new pods start counting at ``now``."""
        self._workloads = tuple(workloads)
        keys = {(p.namespace, p.pod) for w in self._workloads for p in w.pods}
        for key in keys - self._counters.keys():
            self._counters[key] = PodCounters()
            self._last[key] = now
        for key in self._counters.keys() - keys:
            del self._counters[key]
            del self._last[key]

    def sample(self, now: float) -> list[PodSample]:
        """Advance the counters to ``now``; one sample per observed pod."""
        samples = []
        for workload in self._workloads:
            for pod in workload.pods:
                key = (pod.namespace, pod.pod)
                behaviour = behave(workload, pod, now, self.seed)
                counters = self._counters[key]
                counters.advance(behaviour, now - self._last[key])
                self._last[key] = max(now, self._last[key])
                samples.append(PodSample(pod, behaviour, counters))
        return samples
