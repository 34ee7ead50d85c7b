"""Linear baseline: DLCO from whole-lung QCT values and demographics.

Ordinary least squares of DLCO on %LAA-950, %HAA, lung volume, mean lung density, age,
sex and height, fitted on the training split. The fit is exported as JSON so that the
TypeScript side can score it as ``intercept + sum(coefficient * value)``.

Usage::

    python -m dlco_train.baseline --bags BAGS --manifest manifest.csv --out baseline.json
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from .bags import Bag
from .config import load_config
from .dataset import load_split_datasets
from .jsonio import write_json
from .manifest import METADATA_INDEX, ManifestRow
from .metrics import regression_metrics

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINE_FEATURES",
    "LinearBaseline",
    "baseline_features",
    "fit_ols",
]

BASELINE_FORMAT_VERSION = 1

#: (feature name, unit, source) in design-matrix order. A ``bag.json`` source is the
#: path of the value inside bag.json, as written by ``qctByRegion`` in
#: libs/preprocess/src/lib/pipeline/create-patch-bag.ts (QCT of the whole lung, measured
#: on the scan's own grid). A ``manifest`` source is a manifest column.
BASELINE_FEATURES: tuple[tuple[str, str, str], ...] = (
    (
        "laa950_percent",
        "% of lung voxels below -950 HU",
        "bag.json qct.whole.laa950Percent",
    ),
    (
        "haa_percent",
        "% of lung voxels from -600 to -250 HU",
        "bag.json qct.whole.haaPercent",
    ),
    ("lung_volume_ml", "mL", "bag.json qct.whole.volumeMl"),
    ("mean_lung_density_hu", "HU", "bag.json qct.whole.meanHu"),
    ("age", "years", "manifest age"),
    ("sex_male", "1 male, 0 female", "manifest sex"),
    ("height_cm", "cm", "manifest height_cm"),
)


def _bag_json_value(meta: Mapping[str, Any], path: str) -> float:
    value: Any = meta
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return math.nan
        value = value[key]
    # JSON.stringify writes NaN as null, so None is a missing value too.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def baseline_features(bag_meta: Mapping[str, Any], row: ManifestRow) -> np.ndarray:
    """Build one subject's baseline feature vector.

    Args:
        bag_meta: The bag's ``bag.json``.
        row: The subject's manifest row.

    Returns:
        float64 ``[F]`` in ``BASELINE_FEATURES`` order, NaN where a value is missing.
    """
    values = []
    for name, _, source in BASELINE_FEATURES:
        kind, path = source.split(" ", 1)
        if kind == "manifest":
            values.append(float(row.metadata[METADATA_INDEX[name]]))
        else:
            values.append(_bag_json_value(bag_meta, path))
    return np.array(values)


def fit_ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Fit ``y = intercept + x @ coefficients`` by ordinary least squares.

    Args:
        x: ``[n, F]`` features without NaN.
        y: ``[n]`` targets.

    Returns:
        Coefficients ``[F]``, intercept, and the residual standard deviation with
        ``n - F - 1`` degrees of freedom (NaN when n <= F + 1).

    Raises:
        ValueError: If shapes disagree or there are fewer rows than parameters.
    """
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be [n, F] and y [n], got {x.shape} and {y.shape}")
    n, f = x.shape
    if n < f + 1:
        raise ValueError(f"OLS needs at least {f + 1} rows for {f} features, got {n}")
    design = np.hstack([np.ones((n, 1)), x])
    solution, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < f + 1:
        logger.warning(
            "baseline design matrix has rank %d < %d; coefficients are not unique",
            rank,
            f + 1,
        )
    residuals = y - design @ solution
    dof = n - f - 1
    residual_sd = float(np.sqrt(residuals @ residuals / dof)) if dof > 0 else math.nan
    return solution[1:], float(solution[0]), residual_sd


@dataclasses.dataclass
class LinearBaseline:
    """A fitted linear baseline and everything needed to score it elsewhere."""

    feature_names: list[str]
    coefficients: np.ndarray
    intercept: float
    training_n: int
    residual_sd: float
    preprocessing_hash: str | None = None

    @classmethod
    def fit(cls, bags: Sequence[Bag], rows: Sequence[ManifestRow]) -> "LinearBaseline":
        """Fit on training bags and rows; rows with any missing feature are left out.

        Raises:
            ValueError: If too few complete rows remain, naming the missing features.
        """
        features = [baseline_features(bag.meta, row) for bag, row in zip(bags, rows)]
        x = np.array(features).reshape(len(features), len(BASELINE_FEATURES))
        y = np.array([row.dlco for row in rows], dtype=np.float64)
        complete = np.isfinite(x).all(axis=1)
        if complete.sum() < len(BASELINE_FEATURES) + 1:
            missing = [
                name
                for (name, _, _), column in zip(BASELINE_FEATURES, x.T)
                if not np.isfinite(column).all()
            ]
            raise ValueError(
                f"only {int(complete.sum())} of {len(rows)} training subjects have every "
                f"baseline feature; incomplete features: {missing}"
            )
        coefficients, intercept, residual_sd = fit_ols(x[complete], y[complete])
        return cls(
            feature_names=[name for name, _, _ in BASELINE_FEATURES],
            coefficients=coefficients,
            intercept=intercept,
            training_n=int(complete.sum()),
            residual_sd=residual_sd,
            preprocessing_hash=bags[0].preprocessing_hash if bags else None,
        )

    def predict(self, bags: Sequence[Bag], rows: Sequence[ManifestRow]) -> np.ndarray:
        """Return ``[n]`` DLCO estimates in ml/min/mmHg, NaN where a feature is missing."""
        x = np.array([baseline_features(bag.meta, row) for bag, row in zip(bags, rows)])
        return self.intercept + x.reshape(len(rows), -1) @ self.coefficients

    def to_json(self) -> dict[str, Any]:
        """Return the fit as the JSON object that TypeScript scores."""
        units = {name: unit for name, unit, _ in BASELINE_FEATURES}
        sources = {name: source for name, _, source in BASELINE_FEATURES}
        return {
            "formatVersion": BASELINE_FORMAT_VERSION,
            "model": "ordinary least squares",
            "target": {"name": "dlco", "unit": "ml/min/mmHg"},
            "formula": "dlco = intercept + sum(coefficient * value)",
            "intercept": self.intercept,
            "features": [
                {
                    "name": name,
                    "unit": units[name],
                    "source": sources[name],
                    "coefficient": float(coefficient),
                    "coefficientUnit": f"ml/min/mmHg per ({units[name]})",
                }
                for name, coefficient in zip(self.feature_names, self.coefficients)
            ],
            "trainingN": self.training_n,
            "residualSd": self.residual_sd,
            "residualSdUnit": "ml/min/mmHg",
            "preprocessingHash": self.preprocessing_hash,
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> "LinearBaseline":
        """Rebuild a baseline from ``to_json`` output."""
        features = values["features"]
        return cls(
            feature_names=[feature["name"] for feature in features],
            coefficients=np.array([feature["coefficient"] for feature in features]),
            intercept=float(values["intercept"]),
            training_n=int(values["trainingN"]),
            residual_sd=float(values["residualSd"]),
            preprocessing_hash=values.get("preprocessingHash"),
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fit the linear DLCO baseline on the training split."
    )
    parser.add_argument(
        "--bags", required=True, help="folder with one bag folder per scan id"
    )
    parser.add_argument(
        "--manifest", required=True, help="manifest CSV (id, dlco, age, sex, ...)"
    )
    parser.add_argument("--out", required=True, help="output JSON file")
    parser.add_argument(
        "--config",
        help="training config JSON, so the seeded split matches the training run's",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the split when the manifest has none"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    try:
        config = load_config(args.config, seed=args.seed)
        groups, _ = load_split_datasets(
            args.bags,
            args.manifest,
            seed=config.seed,
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
            skip_missing_bags=config.skip_missing_bags,
        )
        baseline = LinearBaseline.fit(*groups["train"])
    except (ValueError, OSError) as error:
        logger.error("baseline failed: %s", error)
        return 2
    output = baseline.to_json()
    output["metrics"] = {}
    for split in ("val", "test"):
        bags, rows = groups[split]
        if rows:
            predictions = baseline.predict(bags, rows)
            has_value = np.isfinite(predictions)
            targets = np.array([row.dlco for row in rows])
            output["metrics"][split] = regression_metrics(
                targets[has_value], predictions[has_value], seed=config.seed
            )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json(args.out, output)
    logger.info("wrote %s (training n = %d)", args.out, baseline.training_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
