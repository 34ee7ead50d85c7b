"""Quantities derived from the training split: model statistics, cohort summary and the
healthy-lung reference patch for occlusion."""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np

from .aggregators import cotes_hb_factor
from .bags import Bag
from .manifest import METADATA_FEATURES, METADATA_INDEX, ManifestRow, MetadataStats

logger = logging.getLogger(__name__)

__all__ = ["derive_model_stats", "summarise_cohort", "reference_patch"]

_TRUTHY = ("1", "true", "yes", "y")


def derive_model_stats(
    bags: Sequence[Bag], rows: Sequence[ManifestRow], all_bags: Sequence[Bag]
) -> dict[str, Any]:
    """Derive the data-dependent constants a model is built with.

    Args:
        bags: Training bags.
        rows: Training manifest rows, in the order of ``bags``.
        all_bags: Bags of every split, to size the zone one-hot encoding.

    Returns:
        ``metadata_mean`` and ``metadata_std`` (raw feature statistics),
        ``conductance_scale`` (mean DLCO over mean Hb-adjusted lung volume, ml/min/mmHg
        per mL, the initial conductance per mL), ``log_variance_init`` (log of the DLCO
        variance) and ``num_zone_codes`` (largest zone code + 1).
    """
    import torch

    stats = MetadataStats.fit(row.metadata for row in rows)
    dlco = np.array([row.dlco for row in rows], dtype=np.float64)
    lung_ml = np.array([float(np.sum(bag.lung_ml, dtype=np.float64)) for bag in bags])
    metadata = torch.tensor(
        np.array([row.metadata for row in rows]), dtype=torch.float32
    )
    hb_factor = cotes_hb_factor(metadata).numpy().astype(np.float64)
    conductance_scale = float(np.mean(dlco) / np.mean(lung_ml * hb_factor))
    variance = (
        float(np.var(dlco)) if dlco.size > 1 else float(np.mean(dlco)) ** 2 / 16.0
    )

    max_code = 0
    for bag in all_bags:
        codes = [int(code) for code in bag.meta.get("zones", {})]
        if bag.patch_count:
            codes.append(int(np.max(bag.zone)))
        max_code = max([max_code, *codes])
    return {
        "metadata_features": [name for name, _ in METADATA_FEATURES],
        "metadata_mean": stats.mean.tolist(),
        "metadata_std": stats.std.tolist(),
        "conductance_scale": conductance_scale,
        "log_variance_init": math.log(max(variance, 1e-6)),
        "num_zone_codes": max_code + 1,
    }


def _describe(values: np.ndarray) -> dict[str, float | int]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"n": 0}
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def summarise_cohort(
    splits: dict[str, tuple[Sequence[Bag], Sequence[ManifestRow]]],
) -> dict[str, Any]:
    """Summarise each split: subject counts, DLCO, age, sex, smoking, Hb and lung volume.

    Returns:
        Split name to summary. Numeric entries have ``n``, ``mean``, ``sd``, ``min`` and
        ``max``. Units: DLCO ml/min/mmHg, age years, Hb g/dL, lung volume mL (bags).
    """
    summary: dict[str, Any] = {}
    for split, (bags, rows) in splits.items():
        metadata = np.array([row.metadata for row in rows]).reshape(
            len(rows), len(METADATA_FEATURES)
        )
        sex = metadata[:, METADATA_INDEX["sex_male"]]
        smoking = {
            status: int(np.nansum(metadata[:, METADATA_INDEX[f"smoking_{status}"]]))
            for status in ("never", "former", "current")
        }
        summary[split] = {
            "scans": len(rows),
            "subjects": len({row.subject_id for row in rows}),
            "dlcoMlMinMmHg": _describe(np.array([row.dlco for row in rows])),
            "ageYears": _describe(metadata[:, METADATA_INDEX["age"]]),
            "hbGDl": _describe(metadata[:, METADATA_INDEX["hb_g_dl"]]),
            "bagLungVolumeMl": _describe(
                np.array([float(np.sum(bag.lung_ml)) for bag in bags])
            ),
            "patchesPerBag": _describe(
                np.array([bag.patch_count for bag in bags], dtype=float)
            ),
            "sex": {"male": int(np.sum(sex == 1)), "female": int(np.sum(sex == 0))},
            "smoking": smoking,
        }
    return summary


def reference_patch(
    bags: Sequence[Bag],
    rows: Sequence[ManifestRow],
    *,
    seed: int = 0,
    max_subjects: int = 64,
    patches_per_subject: int = 16,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Build the healthy-lung reference patch that occlusion puts in place of a patch.

    Healthy subjects are the first non-empty group of: rows whose ``healthy`` column is
    true, rows whose ``phenotype`` column is ``healthy`` (as the cohort simulator writes),
    never-smokers, every training subject. From up to
    ``max_subjects`` of them, up to ``patches_per_subject`` patches that lie entirely in
    the lung are drawn, and the reference is their voxel-wise median HU.

    Returns:
        int16 ``[S, S, S]`` HU (or None when no patch is entirely lung) and a description
        with the rule used and the subject and patch counts.
    """
    rule, chosen = _healthy_subjects(rows)
    rng = np.random.default_rng(seed)
    order = rng.permutation(chosen)[:max_subjects]
    samples = []
    for index in order:
        bag = bags[int(index)]
        full = np.flatnonzero(
            (np.asarray(bag.mask) > 0).reshape(bag.patch_count, -1).all(axis=1)
        )
        if full.size:
            picked = rng.choice(
                full, size=min(patches_per_subject, full.size), replace=False
            )
            samples.append(np.asarray(bag.hu[np.sort(picked)], dtype=np.float32))
    description: dict[str, Any] = {"healthyRule": rule, "subjects": len(samples)}
    if not samples:
        logger.warning(
            "no patch lies entirely in the lung; the model has no reference patch"
        )
        description["patches"] = 0
        return None, description
    stacked = np.concatenate(samples)
    description["patches"] = int(stacked.shape[0])
    description["statistic"] = (
        "voxel-wise median HU of patches entirely inside the lung"
    )
    return np.rint(np.median(stacked, axis=0)).astype("<i2"), description


def _healthy_subjects(rows: Sequence[ManifestRow]) -> tuple[str, np.ndarray]:
    if rows and "healthy" in rows[0].columns:
        flags = np.array(
            [row.columns.get("healthy", "").lower() in _TRUTHY for row in rows]
        )
        if flags.any():
            return "manifest column healthy is true", np.flatnonzero(flags)
    if rows and "phenotype" in rows[0].columns:
        flags = np.array(
            [row.columns.get("phenotype", "").lower() == "healthy" for row in rows]
        )
        if flags.any():
            return "manifest column phenotype is healthy", np.flatnonzero(flags)
    never = np.array(
        [row.metadata[METADATA_INDEX["smoking_never"]] == 1 for row in rows]
    )
    if never.any():
        return "never-smokers (the manifest has no healthy column)", np.flatnonzero(
            never
        )
    return "all training subjects (no healthy column and no never-smokers)", np.arange(
        len(rows)
    )
