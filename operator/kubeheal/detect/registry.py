"""The registry of detectors by name, used by the controller, ``kubeheal eval`` and ``bench/``.

Each entry makes a fresh :class:`~kubeheal.detect.stream.StreamDetector` for one stream; the
default also has a vectorized :class:`~kubeheal.detect.bank.DetectorBank` that computes the
same scores for thousands of streams per tick.

======================  =====================================================================
name                    model
======================  =====================================================================
``novelty`` (default)   nearest-neighbour novelty of short windows, NAB-style likelihood
``hst``                 reference: MinMaxScaler then HalfSpaceTrees, defaults, uncalibrated
======================  =====================================================================

Retired names (:data:`RETIRED`) scored below the ``hst`` reference on real labelled data
(nab-dev); Runbooks stored with them keep working with the default detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubeheal.api.runbook import DetectionSettings
from kubeheal.detect.bank import DetectorBank
from kubeheal.detect.novelty import PARAMETER_VERSION, NoveltyConfig
from kubeheal.detect.stream import Novelty, RiverModel, StreamDetector
from kubeheal.detect.trees import ReferenceTrees

DEFAULT_DETECTOR = "novelty"

RETIRED: dict[str, str] = {
    "robust": DEFAULT_DETECTOR,
    "seasonal": DEFAULT_DETECTOR,
    "hst_window": DEFAULT_DETECTOR,
}
"""Names that were detectors once, and the detector that now serves them."""


def novelty_detector(config: NoveltyConfig | None = None) -> StreamDetector:
    """The default detector for one stream (the bank computes the same scores)."""
    return StreamDetector(Novelty(config))


def reference_trees_detector() -> StreamDetector:
    """The reference: river's HalfSpaceTrees (defaults) after MinMaxScaler, raw scores."""
    return StreamDetector(RiverModel(ReferenceTrees(), warmup=1))


@dataclass(frozen=True)
class DetectorSpec:
    """How to build a detector: per stream, and vectorized when there is a bank for it."""

    name: str
    stream: Callable[[], StreamDetector]
    bank: Callable[[], DetectorBank] | None = None
    description: str = ""
    version: str = ""
    """Names the parameter set, so a recorded score can name the model that produced it."""
    min_warmup: int = 1
    """Points the model must learn before its scores mean anything, whatever a runbook's
    ``warmupPoints`` says."""

    def warmup(self, detection: DetectionSettings) -> int:
        """Points a stream learns before it is scored: the runbook's, at least the model's.

        >>> DETECTORS["novelty"].warmup(DetectionSettings(warmup_points=12))
        30
        """
        return max(detection.warmup_points, self.min_warmup)


DETECTORS: dict[str, DetectorSpec] = {
    "novelty": DetectorSpec(
        "novelty",
        novelty_detector,
        DetectorBank,
        "nearest-neighbour novelty of short windows under a likelihood layer",
        PARAMETER_VERSION,
        # Its scales are learned without clipping for the first model_warmup points: a fault
        # among them would be learned as the stream's usual step and never stand out.
        NoveltyConfig().model_warmup,
    ),
    "hst": DetectorSpec(
        "hst",
        reference_trees_detector,
        None,
        "reference: MinMaxScaler | HalfSpaceTrees",
        "river-defaults",
    ),
}


def resolve(name: str) -> str:
    """The registered detector that serves ``name`` (a retired name maps to its successor).

    >>> resolve("hst"), resolve("robust")
    ('hst', 'novelty')
    """
    return RETIRED.get(name, name)
