"""Input hygiene: decide whether a (timestamp, value) point may be learned, and count why not.

Production metrics are messy: a scrape returns NaN or +Inf (a ratio over zero requests), the
same sample arrives twice, a late sample arrives after a newer one, a node's clock is
corrected, a target is down for an hour. None of these may crash a detector, and none of them
should be learned as if it were a regular point. The rules, applied in order:

- a non-finite value or timestamp is skipped (``non_finite``), and so is a value beyond
  ``max_abs`` in magnitude (no metric is 1e100; arithmetic on it would overflow);
- a timestamp equal to the last accepted one is skipped (``duplicate``);
- a timestamp slightly older than the last accepted one is skipped (``out_of_order``);
- a timestamp that jumps by more than ``clock_jump`` seconds, backwards or forwards, is
  accepted and counted (``clock_jumps``): the stream's clock moved, and waiting for it to
  catch up would blind the detector;
- a forward step larger than ``gap_factor`` times the usual interval is accepted and counted
  (``gaps``: points went missing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kubeheal.detect.values import InputCounters


@dataclass(frozen=True)
class GateConfig:
    """Parameters of :class:`InputGate`."""

    clock_jump: float = 6 * 3600.0
    """Seconds; a larger jump of the timestamp is a clock change, not a late point."""
    gap_factor: float = 3.0
    """A step this many times the usual interval counts as missing points."""
    interval_fading: float = 0.1
    """Fading factor of the running mean of the sampling interval."""
    max_abs: float = 1e100
    """Values larger in magnitude are treated as non-finite."""


class InputGate:
    """Admits or rejects the points of one stream, counting every rejection.

    >>> gate = InputGate()
    >>> [gate.admit(t, v) for t, v in [(0, 1.0), (60, float("nan")), (60, 2.0), (60, 3.0),
    ...                                  (30, 4.0), (120, 5.0), (600, 6.0)]]
    [True, False, True, False, False, True, True]
    >>> c = gate.counters
    >>> (c.non_finite, c.duplicate, c.out_of_order, c.gaps, c.clock_jumps)
    (1, 1, 1, 1, 0)
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config if config is not None else GateConfig()
        self.counters = InputCounters()
        self.last_timestamp: float | None = None
        self.interval = 0.0

    def admit(self, timestamp: float, value: float) -> bool:
        """True if the point may be scored and learned; counts it otherwise."""
        if not (abs(value) <= self.config.max_abs and math.isfinite(timestamp)):
            self.counters.non_finite += 1
            return False
        last = self.last_timestamp
        if last is not None:
            step = timestamp - last
            if step == 0.0:
                self.counters.duplicate += 1
                return False
            if abs(step) > self.config.clock_jump:
                self.counters.clock_jumps += 1
            elif step < 0.0:
                self.counters.out_of_order += 1
                return False
            else:
                if self.interval > 0.0 and step > self.config.gap_factor * self.interval:
                    self.counters.gaps += 1
                elif self.interval == 0.0:
                    self.interval = step
                else:
                    self.interval += self.config.interval_fading * (step - self.interval)
        self.last_timestamp = timestamp
        return True
