"""The forecast-based detector: Holt-Winters seasonality inside river's predictive detection.

Production metrics repeat every day (traffic, CPU) and every week. A level-only model treats
the daily rise as a surprise each morning; a seasonal forecaster expects it. This model runs
``river.time_series.HoltWinters`` (additive level, trend and season) inside
``river.anomaly.PredictiveAnomalyDetection``, measures each value's one-step forecast error in
units of the running mean absolute error (``river.stats.EWMean``), and watches the signed
errors with ``river.drift.ADWIN``. Like the robust baseline it learns Huber-clipped values, so
that a spike at 10:00 today is not expected again at 10:00 tomorrow; and when ADWIN confirms
that the error distribution changed (a level shift the forecaster did not follow), the
forecaster's level is moved by the current error (re-baselined) instead of alarming for days.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from river import anomaly, drift, stats, time_series
from river import base as river_base

from kubeheal.detect.baseline import MAD_TO_STD


class SeasonalForecast(river_base.AnomalyDetector):
    """Absolute one-step Holt-Winters forecast error, in robust standard deviations.

    Parameters
    ----------
    season_length
        Points per season (288 is one day at one point per five minutes).
    alpha, beta, gamma
        Holt-Winters smoothing of level, trend and season.
    error_fading
        Fading factor of the mean absolute forecast error.
    huber
        Errors are clipped at this many scales before they update the error scale.
    min_scale
        Absolute floor of the error scale.
    adwin_delta
        Confidence of the ADWIN test on clipped signed errors.

    Examples
    --------
    >>> import math, random
    >>> rng = random.Random(3)
    >>> model = SeasonalForecast(season_length=24)
    >>> for i in range(24 * 20):
    ...     y = 100 + 20 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1)
    ...     model.learn_one({"value": y})
    >>> i = 24 * 20
    >>> y = 100 + 20 * math.sin(2 * math.pi * i / 24)
    >>> model.score_one({"value": y}) < 3, model.score_one({"value": y + 30}) > 10
    (True, True)
    """

    def __init__(
        self,
        season_length: int = 288,
        alpha: float = 0.1,
        beta: float = 0.001,
        gamma: float = 0.1,
        error_fading: float = 0.02,
        huber: float = 3.0,
        min_scale: float = 1e-9,
        adwin_delta: float = 0.002,
    ) -> None:
        self.season_length = season_length
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.error_fading = error_fading
        self.huber = huber
        self.min_scale = min_scale
        self.adwin_delta = adwin_delta
        self._forecaster = time_series.HoltWinters(  # type: ignore[no-untyped-call]
            alpha=alpha, beta=beta, gamma=gamma, seasonality=season_length
        )
        self._predictive = anomaly.PredictiveAnomalyDetection(self._forecaster, horizon=1)
        self._error = stats.EWMean(error_fading)
        self._adwin = drift.ADWIN(delta=adwin_delta)  # type: ignore[no-untyped-call]
        self._last = 0.0
        self.n = 0
        self.drifts = 0
        self.drift_detected = False

    def expected_one(self, x: dict[Hashable, Any]) -> float:
        """The one-step forecast (the last value until the forecaster is initialised)."""
        if not self._forecaster._initialized:
            return self._last
        return float(self._forecaster.forecast(horizon=1)[0])  # type: ignore[no-untyped-call]

    def _scale(self) -> float:
        return max(float(self._error.get()) * MAD_TO_STD, self.min_scale)

    def score_one(self, x: dict[Hashable, Any]) -> float:
        if self.n < 2:
            return 0.0
        return abs(float(x["value"]) - self.expected_one(x)) / self._scale()

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        value = float(x["value"])
        self.drift_detected = False
        learned = value
        if self.n >= 1:
            expected = self.expected_one(x)
            error = value - expected
            bound = self.huber * self._scale()
            warm = self._forecaster._initialized and self.n > self.season_length + 10
            self._error.update(min(abs(error), bound) if warm else abs(error))
            if warm:
                # The forecaster learns the value clipped to the expected one +- bound, so a
                # spike today is not expected again tomorrow at the same time.
                learned = expected + max(min(error, bound), -bound)
                z = max(min(error / self._scale(), 6.0), -6.0)
                self._adwin.update(z)  # type: ignore[no-untyped-call]
                if self._adwin.drift_detected and abs(error) > bound:
                    self._forecaster.level[-1] += error
                    learned = value
                    self.drifts += 1
                    self.drift_detected = True
        initialized = self._forecaster._initialized
        self._predictive.learn_one(None, learned)
        if not initialized and self._forecaster._initialized:
            # river seeds an additive season with ratios to the level; make them offsets.
            level = self._forecaster.level[-1]
            season: Any = self._forecaster.season
            for k in range(len(season)):
                season[k] = season[k] * level - level
        self._last = value
        self.n += 1
