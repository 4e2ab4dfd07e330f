"""The order in which a runbook's fitting actions are tried, learned from verified outcomes.

Thompson sampling over one Beta posterior per (runbook, cause, action): an action's
posterior is ``Beta(1 + prior + verified, 1 + failed)``, where ``verified`` and ``failed``
count its runs for the diagnosed cause in this runbook (a run is verified when recovery
followed it, failed otherwise: ``status.outcomes`` of the Runbook), and ``prior`` encodes
the runbook's own order: the first fitting action gets :data:`PRIOR_WEIGHT` pseudo-verified
runs, the last none, the others in between linearly. Each action draws one value from its
posterior; the actions are tried by decreasing draw plus a handicap for the runbook's order
(:data:`ORDER_MARGIN` for the first action, none for the last), ties broken by the runbook's
order. The prior decides while outcomes are few; the margin keeps the runbook's order
between actions that are about equally good once outcomes are many (without it two actions
that both work would take turns at random), so a later action comes first only when its
outcomes are clearly better.

Guardrails of the learner itself:

- it only orders the actions it is given (those the runbook allows for the incident); it
  never adds or drops one;
- with no outcome at all for these actions and this cause, the order is the runbook's: no
  data, no change;
- the draws are seeded (by the remediation's name, in the operator), each action's from its
  own seed, and the prior is an action's place among all the actions that fit the incident,
  tried ones included: a decision is reproducible, a replay gives the same answer, and the
  actions left after one failed keep the order they had (while the counts stay the same).

>>> learned = learn_order(["restart", "scale"], {"restart": (0, 5), "scale": (8, 1)},
...                       cause="saturation", seed="web-1")
>>> learned.order
('scale', 'restart')
>>> learned.reason
'scale before restart: 8 of 9 verified for saturation in this runbook (restart: 0 of 5)'
>>> learn_order(["restart", "scale"], {}, cause="saturation", seed="web-1").order
('restart', 'scale')
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

PRIOR_WEIGHT: Final = 2.0
"""Pseudo-verified runs the runbook's first fitting action starts with, over its last one:
the runbook's order holds until about as many real outcomes say otherwise."""

ORDER_MARGIN: Final = 0.05
"""Success probability the runbook's first fitting action is given over its last one when
the draws are compared."""

Draw = Callable[[str, float, float], float]
"""Draws a value for the action named first from Beta(alpha, beta)."""


def seeded_draw(seed: str) -> Draw:
    """Beta draws, each action's from a generator seeded by ``seed`` and its name alone.

    >>> draw = seeded_draw("web-1")
    >>> draw("scale", 2.0, 1.0) == seeded_draw("web-1")("scale", 2.0, 1.0)
    True
    """

    def draw(action: str, alpha: float, beta: float) -> float:
        digest = hashlib.sha256(f"{seed}\x00{action}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big")).betavariate(alpha, beta)

    return draw


@dataclass(frozen=True)
class Arm:
    """One fitting action: its place in the runbook's order and its outcomes for the cause."""

    action: str
    position: int
    verified: int
    failed: int
    prior: float

    @property
    def alpha(self) -> float:
        return 1.0 + self.prior + self.verified

    @property
    def beta(self) -> float:
        return 1.0 + self.failed

    @property
    def handicap(self) -> float:
        """What the runbook's order adds to this action's draw."""
        return ORDER_MARGIN * self.prior / PRIOR_WEIGHT

    @property
    def runs(self) -> int:
        return self.verified + self.failed

    def tally(self) -> str:
        return f"{self.verified} of {self.runs}"


@dataclass(frozen=True)
class LearnedOrder:
    """The runbook's order of the fitting actions, the learned one, and why."""

    cause: str
    runbook_order: tuple[str, ...]
    order: tuple[str, ...]
    arms: tuple[Arm, ...]
    draws: tuple[float, ...]
    """Each arm's draw, in the runbook's order (empty when nothing was drawn)."""
    reason: str

    @property
    def changed(self) -> bool:
        """Whether learning would try another action first than the runbook."""
        return bool(self.order) and self.order[0] != self.runbook_order[0]


def prior_of(position: int, count: int) -> float:
    """The pseudo-verified runs of the action at ``position`` among ``count`` fitting ones.

    >>> [prior_of(i, 3) for i in range(3)], prior_of(0, 1)
    ([2.0, 1.0, 0.0], 0.0)
    """
    if count <= 1:
        return 0.0
    return PRIOR_WEIGHT * (count - 1 - position) / (count - 1)


def learn_order(actions: Sequence[str], outcomes: Mapping[str, tuple[int, int]], *,
                cause: str, seed: str, tried: Collection[str] = (),
                draw: Draw | None = None) -> LearnedOrder:
    """The order in which to try ``actions`` (all that fit, in the runbook's order) for
    ``cause``, less those ``tried`` already.

    ``outcomes`` maps an action's name to its (verified, failed) runs for ``cause`` in this
    runbook; an action missing from it has none. ``draw`` replaces the seeded Beta draws
    (tests use it to make ties).
    """
    every = tuple(dict.fromkeys(actions))
    arms = tuple(
        Arm(name, i, max(0, outcomes.get(name, (0, 0))[0]), max(0, outcomes.get(name, (0, 0))[1]),
            prior_of(i, len(every)))
        for i, name in enumerate(every) if name not in tried)
    names = tuple(a.action for a in arms)
    if len(arms) <= 1:
        only = f"{names[0]} is the only action that fits" if names else "no action fits"
        return LearnedOrder(cause, names, names, arms, (), f"{only} for {cause}")
    if not any(a.runs for a in arms):
        return LearnedOrder(cause, names, names, arms, (),
                            f"no verified or failed run of {', '.join(names)} for {cause} in "
                            "this runbook yet: the runbook's order")
    sample = draw or seeded_draw(seed)
    draws = tuple(sample(a.action, a.alpha, a.beta) for a in arms)
    ranked = sorted(zip(arms, draws, strict=True),
                    key=lambda pair: (-(pair[1] + pair[0].handicap), pair[0].position))
    order = tuple(a.action for a, _ in ranked)
    first, planned = ranked[0][0], arms[0]
    others = ", ".join(f"{a.action}: {a.tally()}" for a, _ in ranked[1:])
    if first is planned:
        head = f"{first.action} first, as in the runbook"
    else:
        head = f"{first.action} before {planned.action}"
    reason = (f"{head}: {first.tally()} verified for {cause} in this runbook ({others})")
    return LearnedOrder(cause, names, order, arms, draws, reason)
