"""The registry of detectors by name, used by the controller, ``kubeheal eval`` and ``bench/``.

Each entry makes a fresh :class:`~kubeheal.detect.stream.StreamDetector` for one stream; the
default (``robust``) also has a vectorized :class:`~kubeheal.detect.bank.DetectorBank` that
computes the same scores for thousands of streams per tick.

======================  =====================================================================
name                    model
======================  =====================================================================
``robust`` (default)    Huber-clipped EW level and scale, Page-Hinkley re-baselining
``seasonal``            Holt-Winters (daily season) in PredictiveAnomalyDetection, ADWIN
``hst_window``          HalfSpaceTrees over standardized step and distance from recent mean
``hst``                 reference: MinMaxScaler then HalfSpaceTrees, defaults, uncalibrated
======================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubeheal.detect.bank import DetectorBank, RobustConfig
from kubeheal.detect.baseline import RobustZScore
from kubeheal.detect.forecast import SeasonalForecast
from kubeheal.detect.stream import StreamDetector
from kubeheal.detect.trees import ReferenceTrees, WindowedHalfSpaceTrees

DEFAULT_DETECTOR = "robust"


def robust_detector(config: RobustConfig | None = None) -> StreamDetector:
    """The default detector for one stream (the bank computes the same scores)."""
    c = config if config is not None else RobustConfig()
    model = RobustZScore(
        level_fading=c.level_fading,
        trend_fading=c.trend_fading,
        scale_fading=c.scale_fading,
        huber=c.huber,
        warmup=c.model_warmup,
        min_scale=c.min_scale,
        relative_min_scale=c.relative_min_scale,
        drift_threshold=c.drift_threshold,
        drift_alpha=c.drift_alpha,
        drift_delta=c.drift_delta,
        drift_clip=c.drift_clip,
        repeat_fading=c.repeat_fading,
        max_run=c.max_run,
        min_repeat_rate=c.min_repeat_rate,
    )
    return StreamDetector(model, warmup=c.warmup)


def seasonal_detector(season_length: int = 288) -> StreamDetector:
    """Holt-Winters forecast detector; ``season_length`` points per day."""
    return StreamDetector(SeasonalForecast(season_length=season_length), warmup=season_length + 30)


def windowed_trees_detector() -> StreamDetector:
    """HalfSpaceTrees over a small window of derived features, calibrated."""
    # HalfSpaceTrees scores only once its first window (250 points) is full.
    return StreamDetector(WindowedHalfSpaceTrees(), warmup=600)


def reference_trees_detector() -> StreamDetector:
    """The reference: river's HalfSpaceTrees (defaults) after MinMaxScaler, raw scores."""
    return StreamDetector(ReferenceTrees(), warmup=1, calibrated=False)


@dataclass(frozen=True)
class DetectorSpec:
    """How to build a detector: per stream, and vectorized when there is a bank for it."""

    name: str
    stream: Callable[[], StreamDetector]
    bank: Callable[[], DetectorBank] | None = None
    description: str = ""


DETECTORS: dict[str, DetectorSpec] = {
    "robust": DetectorSpec(
        "robust", robust_detector, DetectorBank, "robust EW z-score with re-baselining"
    ),
    "seasonal": DetectorSpec("seasonal", seasonal_detector, None, "Holt-Winters forecast error"),
    "hst_window": DetectorSpec(
        "hst_window", windowed_trees_detector, None, "HalfSpaceTrees on windowed features"
    ),
    "hst": DetectorSpec(
        "hst", reference_trees_detector, None, "reference: MinMaxScaler | HalfSpaceTrees"
    ),
}
