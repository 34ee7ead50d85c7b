import numpy as np
import pytest

from dlco_train.metrics import INTERVAL_Z, regression_metrics


def test_metrics_values():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    p = np.array([12.0, 18.0, 33.0, 41.0])
    metrics = regression_metrics(y, p, np.full(4, 1.5), bootstrap=200)
    assert metrics["n"] == 4
    assert metrics["mae"] == pytest.approx(2.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt((4 + 4 + 9 + 1) / 4))
    assert metrics["bias"] == pytest.approx(1.0)
    assert metrics["coverage95"] == pytest.approx(0.75)
    low, high = metrics["mae_ci95"]
    assert low <= metrics["mae"] <= high


def test_coverage_boundary_is_inside():
    y = np.zeros(2)
    p = np.array([INTERVAL_Z, -INTERVAL_Z * 1.01])
    assert regression_metrics(y, p, np.ones(2), bootstrap=0)["coverage95"] == 0.5


def test_metrics_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        regression_metrics(np.zeros(3), np.zeros(4))
