"""Conductance model: DLCO as a sum of per-voxel conductance, plus measurement effects.

Healthy conductance per voxel is ``c * w(x) * f(x)``. ``f`` is the voxel's alveolar
fraction (lung minus airways and resolved vessels). ``w`` is a perfusion weight that
rises towards dependent (posterior) and basal lung. ``c`` is set so that the healthy map
sums to the GLI 2017 predicted DLCO of the subject. Lesions multiply the healthy map by
their conductance factor. Measured DLCO adds the Cotes haemoglobin factor, a
carboxyhaemoglobin factor for current smokers and multiplicative measurement noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lungs import LungContext
from .reference import cotes_hb_factor

__all__ = [
    "DEPENDENT_WEIGHT_GAIN",
    "BASAL_WEIGHT_GAIN",
    "MEASUREMENT_CV",
    "ConductanceMaps",
    "DlcoValues",
    "cohb_factor",
    "conductance_maps",
    "measure_dlco",
    "measurement_rng",
]

DEPENDENT_WEIGHT_GAIN = 0.5
"""Perfusion weight gain from the most anterior to the most posterior lung (supine)."""

BASAL_WEIGHT_GAIN = 0.25
"""Perfusion weight gain from the apex to the lung base."""

MEASUREMENT_CV = 0.05
"""Coefficient of variation of the multiplicative DLCO measurement noise."""

COHB_LOSS_PER_PERCENT = 0.01
"""Fractional DLCO loss per percentage point of COHb above the baseline."""

BASELINE_COHB_PERCENT = 1.0
"""Carboxyhaemoglobin (%) of non-smokers, where the COHb factor is 1."""


@dataclass
class ConductanceMaps:
    """Per-voxel conductance on one grid, ml/min/mmHg per voxel (float32).

    Attributes:
        healthy: Conductance the lung would have without lesions.
        actual: Conductance with lesions.
        deficit: ``healthy - actual``, never negative.
    """

    healthy: np.ndarray
    actual: np.ndarray
    deficit: np.ndarray


def regional_weight(context: LungContext) -> np.ndarray:
    """Return the perfusion weight ``(1 + 0.5 d)(1 + 0.25 b)`` inside the lung.

    ``d`` is the dependency and ``b`` the basal coordinate of :class:`LungContext`.
    """
    weight = (1.0 + DEPENDENT_WEIGHT_GAIN * context.dependency) * (
        1.0 + BASAL_WEIGHT_GAIN * context.basal
    )
    return (weight * context.mask).astype(np.float32)


def conductance_maps(
    context: LungContext,
    alveolar_fraction: np.ndarray,
    lesion_factor: np.ndarray,
    predicted_dlco: float,
) -> ConductanceMaps:
    """Scale the healthy conductance to the predicted DLCO and apply lesions.

    Args:
        context: Lung maps of the grid.
        alveolar_fraction: float32 share of each voxel that exchanges gas, in [0, 1].
        lesion_factor: float32 conductance multiplier from lesions, in [0, 1].
        predicted_dlco: GLI predicted DLCO in ml/min/mmHg; the healthy map sums to it.

    Returns:
        Healthy, actual and deficit maps.

    Raises:
        ValueError: If the lung has no gas-exchanging voxel.
    """
    shape_weight = regional_weight(context) * np.clip(alveolar_fraction, 0.0, 1.0)
    total = float(shape_weight.sum(dtype=np.float64))
    if total <= 0:
        raise ValueError(
            "the lung mask has no gas-exchanging voxel; cannot scale DLCO."
        )
    healthy = (shape_weight * np.float32(predicted_dlco / total)).astype(np.float32)
    actual = (healthy * np.clip(lesion_factor, 0.0, 1.0)).astype(np.float32)
    deficit = healthy - actual
    return ConductanceMaps(healthy, actual, deficit)


def cohb_factor(cohb_percent: float) -> float:
    """Return the DLCO multiplier for a carboxyhaemoglobin level (percent).

    The simulator assumes a 1 % loss per percentage point above 1 % COHb, an
    approximation of the CO back-pressure effect.
    """
    excess = max(cohb_percent - BASELINE_COHB_PERCENT, 0.0)
    return 1.0 - COHB_LOSS_PER_PERCENT * excess


@dataclass(frozen=True)
class DlcoValues:
    """DLCO values of one scan, ml/min/mmHg.

    Attributes:
        predicted: GLI 2017 predicted DLCO (standard haemoglobin); sum of healthy map.
        structural: Sum of the actual conductance map (lesions only).
        true_noiseless: ``structural`` times the haemoglobin and COHb factors.
        measured: ``true_noiseless`` with measurement noise.
        hb_factor: Cotes factor.
        cohb_factor: Carboxyhaemoglobin factor.
    """

    predicted: float
    structural: float
    true_noiseless: float
    measured: float
    hb_factor: float
    cohb_factor: float


def measurement_rng(subject_seed: int) -> np.random.Generator:
    """Return the generator of a subject's DLCO measurement noise.

    It depends on the subject alone, so every scan of one subject reports the same
    measured DLCO, as from one lung-function test.
    """
    return np.random.default_rng([subject_seed, 1])


def measure_dlco(
    maps: ConductanceMaps,
    predicted: float,
    sex: str,
    hb_g_dl: float,
    cohb_percent: float,
    rng: np.random.Generator,
) -> DlcoValues:
    """Turn conductance maps into the DLCO values a laboratory would report.

    Args:
        maps: Conductance maps of the scan.
        predicted: GLI predicted DLCO (ml/min/mmHg).
        sex: ``"M"`` or ``"F"``.
        hb_g_dl: Haemoglobin in g/dL.
        cohb_percent: Carboxyhaemoglobin in percent.
        rng: Random generator for the measurement noise (see :func:`measurement_rng`).

    Returns:
        The DLCO values.
    """
    structural = float(maps.actual.sum(dtype=np.float64))
    hb = cotes_hb_factor(hb_g_dl, sex)
    cohb = cohb_factor(cohb_percent)
    true_noiseless = structural * hb * cohb
    noise = float(rng.normal(0.0, MEASUREMENT_CV))
    measured = max(true_noiseless * (1.0 + noise), 0.1)
    return DlcoValues(predicted, structural, true_noiseless, measured, hb, cohb)
