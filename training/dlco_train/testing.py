"""Synthetic patch bags and manifests for tests and smoke runs.

The bags follow ``docs/patch-bag-format.md`` byte for byte, with the same dtypes, shapes
and ``bag.json`` fields that ``dlco preprocess`` writes. The CT content is a toy: each
patch is lung parenchyma at a chosen density with noise. DLCO is computed from the
patches with a known rule, so a model can learn it. This is not the cohort simulator.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Sequence

import numpy as np

from .bags import NO_DATA_HU, preprocess_params_hash

__all__ = [
    "SYNTHETIC_ZONES",
    "synthetic_params",
    "write_bag",
    "write_synthetic_bag",
    "write_synthetic_cohort",
    "MANIFEST_COLUMNS",
]

SYNTHETIC_ZONES = {"1": "upper", "2": "middle", "3": "lower"}

MANIFEST_COLUMNS = (
    "id",
    "dlco",
    "age",
    "sex",
    "height_cm",
    "weight_kg",
    "smoking",
    "pack_years",
    "hb_g_dl",
    "cohb_percent",
    "split",
)

# Conductance per mL of healthy synthetic lung, ml/min/mmHg per mL. Toy bags hold far less
# lung than a real scan, so this is larger than real tissue to keep DLCO near 10 to 40.
_HEALTHY_CONDUCTANCE_PER_ML = 0.12


def synthetic_params(patch_size: int = 8) -> dict[str, Any]:
    """Return preprocessing parameters like the TypeScript defaults, with patch size S."""
    return {
        "workingSpacingMm": 2,
        "patchSizeVoxels": patch_size,
        "patchStrideVoxels": patch_size,
        "minLungFraction": 0.1,
        "rindDepthMm": 10,
    }


def write_bag(
    folder: str | os.PathLike[str],
    arrays: dict[str, np.ndarray],
    *,
    params: dict[str, Any] | None = None,
    format_version: int = 1,
    qct: dict[str, Any] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> str:
    """Write arrays and a complete ``bag.json`` into ``folder``.

    Args:
        folder: Bag folder to create.
        arrays: ``hu``, ``mask``, ``centers_mm``, ``corner_ijk``, ``lung_ml``, ``zone``,
            ``side`` and ``rind_fraction``, converted to the format's dtypes here.
        params: Preprocessing parameters; defaults to ``synthetic_params(S)``.
        format_version: Written as ``formatVersion``.
        qct: The ``qct`` object; defaults to whole-lung values computed from the patches.
        extra_meta: Fields that override the defaults in ``bag.json``.

    Returns:
        The folder path.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    dtypes = {
        "hu": "<i2",
        "mask": "|u1",
        "centers_mm": "<f4",
        "corner_ijk": "<i4",
        "lung_ml": "<f4",
        "zone": "|u1",
        "side": "|u1",
        "rind_fraction": "<f4",
    }
    for name, dtype in dtypes.items():
        np.save(
            os.path.join(folder, f"{name}.npy"),
            np.ascontiguousarray(arrays[name], dtype=dtype),
        )

    size = int(arrays["hu"].shape[1])
    params = params if params is not None else synthetic_params(size)
    count = int(arrays["hu"].shape[0])
    meta: dict[str, Any] = {
        "formatVersion": format_version,
        "preprocessing": params,
        "preprocessingHash": preprocess_params_hash(params, format_version),
        "source": {"fileName": "synthetic.nrrd", "format": "nrrd"},
        "inputGeometry": _geometry(count, size),
        "workingGeometry": _geometry(count, size),
        "zones": SYNTHETIC_ZONES,
        "coverage": {"complete": True, "reasons": []},
        "warnings": [],
        "qct": (qct if qct is not None else {"whole": _whole_lung_qct(arrays, params)}),
        "patchCount": count,
        "droppedLungFraction": 0.0,
        "lungVolumeMl": float(np.sum(arrays["lung_ml"], dtype=np.float64)),
    }
    meta.update(extra_meta or {})
    with open(os.path.join(folder, "bag.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    return folder


def _geometry(count: int, size: int) -> dict[str, Any]:
    return {
        "size": [size * count, size, size],
        "spacingMm": [2, 2, 2],
        "originMm": [0, 0, 0],
        "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
    }


def _whole_lung_qct(
    arrays: dict[str, np.ndarray], params: dict[str, Any]
) -> dict[str, float]:
    lung = np.asarray(arrays["mask"]) > 0
    hu = np.asarray(arrays["hu"], dtype=np.float64)[lung]
    voxel_ml = float(params["workingSpacingMm"]) ** 3 / 1000.0
    return {
        "volumeMl": float(lung.sum() * voxel_ml),
        "meanHu": float(hu.mean()),
        "laa950Percent": float(100.0 * np.mean(hu < -950)),
        "perc15Hu": float(np.percentile(hu, 15)),
        "haaPercent": float(100.0 * np.mean((hu >= -600) & (hu <= -250))),
    }


def write_synthetic_bag(
    folder: str | os.PathLike[str],
    rng: np.random.Generator,
    *,
    patch_count: int,
    patch_size: int = 8,
    emphysema_share: float = 0.0,
) -> tuple[str, np.ndarray]:
    """Write one toy bag and return its folder and per-patch conductance.

    Healthy patches sit near -850 HU, emphysematous ones near -960 HU (conductance down by
    up to 80%) and 5% of patches near -450 HU (conductance halved). A quarter of the
    patches are cut by the lung border, so their mask and ``lung_ml`` are partial.

    Args:
        folder: Bag folder to create.
        rng: Source of randomness.
        patch_count: N.
        patch_size: S, in voxels.
        emphysema_share: Expected share (0 to 1) of emphysematous patches.

    Returns:
        The folder and the true conductance of each patch, ``[N]``, ml/min/mmHg.
    """
    n, s = patch_count, patch_size
    severity = (rng.random(n) < emphysema_share) * rng.uniform(0.5, 1.0, n)
    # A few dense (fibrotic-looking) patches give the high-attenuation share some spread.
    dense = rng.random(n) < 0.05
    mean_hu = np.where(dense, -450.0, -850.0 - 110.0 * severity)
    hu = mean_hu[:, None, None, None] + rng.normal(0.0, 25.0, (n, s, s, s))

    side = rng.integers(1, 3, n)
    mask = np.broadcast_to(side[:, None, None, None], (n, s, s, s)).copy()
    cut = rng.random(n) < 0.25
    cut_depth = rng.integers(1, s, n)
    for index in np.flatnonzero(cut):
        mask[index, : cut_depth[index]] = 0
        hu[index, : cut_depth[index]] = 40.0  # soft tissue outside the lung
        # Some cut patches also reach past the working grid, where hu.npy has no data.
        if index % 2 == 0:
            hu[index, 0] = NO_DATA_HU

    voxel_ml = 2.0**3 / 1000.0
    lung_ml = (mask > 0).reshape(n, -1).sum(axis=1) * voxel_ml
    arrays = {
        "hu": np.where(hu == NO_DATA_HU, NO_DATA_HU, np.clip(np.rint(hu), -1024, 3071)),
        "mask": mask,
        "centers_mm": rng.normal(0.0, 80.0, (n, 3)),
        "corner_ijk": rng.integers(-2, 200, (n, 3)),
        "lung_ml": lung_ml,
        "zone": rng.integers(1, 4, n),
        "side": side,
        "rind_fraction": rng.random(n),
    }
    write_bag(folder, arrays)
    conductance = lung_ml * _HEALTHY_CONDUCTANCE_PER_ML * (1.0 - 0.8 * severity)
    conductance = np.where(dense, 0.5 * conductance, conductance)
    return os.fspath(folder), conductance.astype(np.float64)


def write_synthetic_cohort(
    root: str | os.PathLike[str],
    *,
    subject_count: int = 24,
    seed: int = 0,
    patch_size: int = 8,
    patch_counts: Sequence[int] = (24, 48),
    splits: Sequence[float] = (0.6, 0.2, 0.2),
) -> tuple[str, str]:
    """Write toy bags plus a manifest CSV whose DLCO follows from the bags.

    DLCO is the sum of patch conductances, scaled by the Cotes haemoglobin factor, a 1%
    loss per COHb percentage point above 1%, and age, plus 3% noise. So images, Hb,
    COHb and age all carry signal.

    Args:
        root: Folder that receives ``bags/<id>/`` and ``manifest.csv``.
        subject_count: Number of subjects, one scan each.
        seed: Seed for every random choice.
        patch_size: S, in voxels.
        patch_counts: Inclusive range of N per bag.
        splits: Train, val and test shares written to the ``split`` column.

    Returns:
        The bags folder and the manifest path.
    """
    rng = np.random.default_rng(seed)
    bags_dir = os.path.join(os.fspath(root), "bags")
    rows = []
    split_names = np.array(["train", "val", "test"])
    boundaries = np.cumsum(splits) * subject_count
    for index in range(subject_count):
        subject_id = f"sub-{index:03d}"
        smoking = str(rng.choice(["never", "former", "current"]))
        pack_years = 0.0 if smoking == "never" else float(rng.uniform(5, 60))
        emphysema = 0.0 if smoking == "never" else min(0.9, pack_years / 70.0)
        _, conductance = write_synthetic_bag(
            os.path.join(bags_dir, subject_id),
            rng,
            patch_count=int(rng.integers(patch_counts[0], patch_counts[1] + 1)),
            patch_size=patch_size,
            emphysema_share=emphysema,
        )
        sex = str(rng.choice(["M", "F"]))
        age = float(rng.uniform(30, 80))
        hb = float(rng.normal(14.6 if sex == "M" else 13.4, 1.2))
        cotes_k = 10.22 if sex == "M" else 9.38
        hb_factor = 1.7 * hb / (cotes_k + hb)
        cohb = float(
            rng.uniform(0.5, 3.0) if smoking != "current" else rng.uniform(3, 8)
        )
        cohb_factor = 1.0 - 0.01 * max(cohb - 1.0, 0.0)
        dlco = (
            conductance.sum() * hb_factor * cohb_factor * (1.0 - 0.004 * (age - 50.0))
        )
        dlco *= 1.0 + rng.normal(0.0, 0.03)
        height = float(rng.normal(176 if sex == "M" else 163, 7))
        rows.append(
            {
                "id": subject_id,
                "dlco": round(float(dlco), 4),
                "age": round(age, 1),
                "sex": sex,
                "height_cm": round(height, 1),
                "weight_kg": round(float(rng.normal(0.45 * height - 5, 8)), 1),
                "smoking": smoking,
                "pack_years": round(pack_years, 1),
                "hb_g_dl": round(hb, 2),
                "cohb_percent": round(cohb, 2),
                "split": str(
                    split_names[int(np.searchsorted(boundaries, index, side="right"))]
                ),
            }
        )

    manifest = os.path.join(os.fspath(root), "manifest.csv")
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return bags_dir, manifest
