"""Held-out metrics: MAE, RMSE, Pearson r, interval coverage and bootstrap intervals."""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["regression_metrics", "bootstrap_interval", "INTERVAL_Z"]

#: Standard normal quantile for a two-sided 95% interval.
INTERVAL_Z = 1.959963984540054


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(p - y)))


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((p - y) ** 2)))


def _pearson_r(y: np.ndarray, p: np.ndarray) -> float:
    if y.size < 2 or np.std(y) == 0 or np.std(p) == 0:
        return float("nan")
    return float(np.corrcoef(y, p)[0, 1])


def bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[float]:
    """Percentile bootstrap interval of a paired statistic.

    Args:
        statistic: Function of (targets, predictions).
        y: ``[n]`` targets.
        p: ``[n]`` predictions.
        resamples: Number of resamples with replacement.
        seed: Seed of the resampling.
        level: Coverage of the interval.

    Returns:
        ``[low, high]``; NaN bounds when fewer than 3 samples.
    """
    if y.size < 3:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, y.size, size=(resamples, y.size))
    values = np.array([statistic(y[row], p[row]) for row in indices])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [float("nan"), float("nan")]
    tail = 100.0 * (1.0 - level) / 2.0
    return [
        float(np.percentile(values, tail)),
        float(np.percentile(values, 100.0 - tail)),
    ]


def regression_metrics(
    targets: np.ndarray,
    predictions: np.ndarray,
    sigmas: np.ndarray | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, float | int | list[float]]:
    """Compute held-out metrics of DLCO estimates.

    Args:
        targets: ``[n]`` measured DLCO, ml/min/mmHg.
        predictions: ``[n]`` estimates, ml/min/mmHg.
        sigmas: ``[n]`` predicted standard deviations, ml/min/mmHg, or None.
        bootstrap: Resamples for the 95% intervals of MAE, RMSE and r; 0 skips them.
        seed: Seed of the bootstrap.

    Returns:
        ``n``, ``mae``, ``rmse``, ``r``, ``bias`` (mean prediction minus target), with
        ``*_ci95`` intervals when bootstrapped, and ``coverage95`` (share of targets
        inside estimate +/- 1.96 sigma) and ``mean_sigma`` when ``sigmas`` is given.

    Raises:
        ValueError: If the arrays differ in length.
    """
    y = np.asarray(targets, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"targets {y.shape} and predictions {p.shape} differ in shape")
    result: dict[str, float | int | list[float]] = {"n": int(y.size)}
    if y.size == 0:
        return result

    result.update(
        mae=_mae(y, p), rmse=_rmse(y, p), r=_pearson_r(y, p), bias=float(np.mean(p - y))
    )
    if bootstrap > 0:
        for name, statistic in (("mae", _mae), ("rmse", _rmse), ("r", _pearson_r)):
            result[f"{name}_ci95"] = bootstrap_interval(
                statistic, y, p, resamples=bootstrap, seed=seed
            )
    if sigmas is not None:
        s = np.asarray(sigmas, dtype=np.float64)
        if s.shape != y.shape:
            raise ValueError(f"sigmas {s.shape} and targets {y.shape} differ in shape")
        inside = np.abs(p - y) <= INTERVAL_Z * s
        result["coverage95"] = float(np.mean(inside))
        result["mean_sigma"] = float(np.mean(s))
    return result
