"""Online anomaly detection on river: detectors, calibration, debounce, fusion, evaluation. Pure."""
