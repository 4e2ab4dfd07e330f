"""Rank the probable causes of an incident: run every rule, order the candidates, and fall back
to ``unknown`` (saying why) when nothing fits.

Ties are broken by a fixed order, ``change`` > ``resource-exhaustion`` > ``saturation`` >
``unknown``: the first has the most specific remedy (a rollback restores a known good state),
the last has none.

>>> import datetime as dt
>>> from kubeheal.api.runbook import SignalRole
>>> from kubeheal.diagnose.facts import Direction, Revision, SignalAnomaly
>>> onset = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
>>> facts = DiagnosisInput(
...     onset,
...     signals=(SignalAnomaly("error-ratio", SignalRole.ERRORS, Direction.UP, 0.3, 0.005),),
...     revisions=(Revision(6, onset - dt.timedelta(days=1)),
...                Revision(7, onset - dt.timedelta(minutes=2), name="checkout-7f9c")),
... )
>>> result = diagnose(facts)
>>> result.cause.value, round(result.confidence, 2)
('change', 0.87)
>>> result.candidates[0].evidence[0]
'revision 7 (checkout-7f9c) created 2m before the onset (window 10m)'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kubeheal.api import remediation as api
from kubeheal.api.runbook import Cause
from kubeheal.diagnose.facts import DiagnosisInput, DiagnosisSettings
from kubeheal.diagnose.rules import RULES, Candidate, Rule, why_nothing_fits

# When no rule applies, ``unknown`` is the only candidate: as likely as not that nothing we
# know of explains the incident.
UNKNOWN_CONFIDENCE = 0.5
TIE_ORDER: tuple[Cause, ...] = (
    Cause.CHANGE, Cause.RESOURCE_EXHAUSTION, Cause.SATURATION, Cause.UNKNOWN,
)
# Limits of the Remediation resource's diagnosis field.
MAX_API_CANDIDATES = 8
MAX_API_EVIDENCE = 16


@dataclass(frozen=True)
class Diagnosis:
    """Probable causes, most probable first; never empty."""

    candidates: tuple[Candidate, ...]

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("a diagnosis has at least one candidate")

    @property
    def cause(self) -> Cause:
        """The most probable cause."""
        return self.candidates[0].cause

    @property
    def confidence(self) -> float:
        """Confidence in the most probable cause."""
        return self.candidates[0].confidence

    def confidence_of(self, cause: Cause) -> float:
        """Confidence in ``cause``; 0 when no rule proposed it."""
        return max((c.confidence for c in self.candidates if c.cause is cause), default=0.0)

    def to_api(self) -> api.Diagnosis:
        """The ``spec.diagnosis`` of a Remediation, within the resource's limits."""
        return api.Diagnosis(
            cause=self.cause,
            candidates=[
                api.CauseCandidate(
                    cause=c.cause,
                    confidence=round(c.confidence, 4),
                    evidence=list(c.evidence[:MAX_API_EVIDENCE]),
                )
                for c in self.candidates[:MAX_API_CANDIDATES]
            ],
        )


def rank(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """Most confident first; ties broken by :data:`TIE_ORDER`.

    Confidences are rounded to 9 decimals first, so that float noise never decides a tie.
    """
    rounded = [replace(c, confidence=round(c.confidence, 9)) for c in candidates]
    return tuple(sorted(rounded, key=lambda c: (-c.confidence, TIE_ORDER.index(c.cause))))


def diagnose(facts: DiagnosisInput, settings: DiagnosisSettings | None = None,
             rules: tuple[Rule, ...] = RULES) -> Diagnosis:
    """The probable causes of an incident, ranked, each with its evidence.

    Always returns at least one candidate: ``unknown`` with the reasons no rule applied.

    >>> import datetime as dt
    >>> onset = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    >>> result = diagnose(DiagnosisInput(onset))
    >>> result.cause.value, result.confidence
    ('unknown', 0.5)
    >>> result.candidates[0].evidence[:2]
    ('no template change in the 10m before the onset', 'no memory growth, OOM kills or restarts')
    """
    settings = settings or DiagnosisSettings()
    found = [c for c in (rule(facts, settings) for rule in rules) if c is not None]
    if not found:
        found = [Candidate(Cause.UNKNOWN, UNKNOWN_CONFIDENCE, why_nothing_fits(facts, settings))]
    return Diagnosis(rank(found))
