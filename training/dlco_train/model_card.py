"""The model card: what serving needs to run and trust an exported model.

``model-card.json`` lists every ONNX input and output with dtype, shape and unit. It
also carries the preprocessing parameters and hash copied from the training bags, the
normalisation constants, the zone table and the occlusion reference patch. Finally it
summarises the training cohort, the held-out metrics of the model and the baseline, the
intended use and the limitations.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

import torch

from . import __version__
from .bags import NO_DATA_HU, SUPPORTED_FORMAT_VERSIONS, preprocess_params_hash
from .config import TrainConfig
from .manifest import METADATA_FEATURES, ManifestRow
from .metrics import INTERVAL_Z

logger = logging.getLogger(__name__)

__all__ = [
    "CARD_FORMAT_VERSION",
    "INTENDED_USE",
    "LIMITATIONS",
    "build_model_card",
    "summarise_training_data",
]

# Manifest columns that only ``dlco_train.simulator`` writes, so a manifest with them
# is simulated.
_SIMULATOR_COLUMNS = ("dlco_true_noiseless", "scanner_profile")
_REAL_BACKGROUND_PREFIX = "real:"

CARD_FORMAT_VERSION = 1

INTENDED_USE = (
    "Research use, not diagnosis. Estimates DLCO (ml/min/mmHg) from a chest CT patch bag "
    "and subject metadata, with per-patch contributions to show where a deficit may come "
    "from. Not a medical device and not validated for clinical decisions."
)

LIMITATIONS = [
    "Trained and evaluated only on the cohort summarised in trainingCohort; performance "
    "on other scanners, protocols, populations or inspiration levels is unknown.",
    "Accepts only bags whose preprocessingHash equals this card's; other preprocessing "
    "changes the patches the model sees.",
    "The prediction interval assumes Gaussian errors and is calibrated only as reported "
    "in the card's metrics (coverage95 on held-out scans), which result.json copies to "
    "model.heldOutMetrics.",
    "Contributions are model attributions: each patch's share of the estimate (or, for "
    "attention pooling, an attention share), which is not a measured regional DLCO.",
    "Occlusion with the reference patch measures model sensitivity, not causation.",
]


def limitations(config: TrainConfig) -> list[str]:
    """Return the card's limitations, with the sentences that depend on the config."""
    notes = list(LIMITATIONS)
    terms = config.global_factor_terms
    if "cohb" in terms:
        notes.append(
            "Carboxyhaemoglobin (COHb) is corrected with a fixed 1 % of DLCO per "
            "percentage point above 1 %; a missing COHb gets no correction."
        )
    else:
        notes.append(
            "Carboxyhaemoglobin (COHb) enters only as a learned metadata input when the "
            "manifest has cohb_percent; no fixed physiological COHb correction is applied."
        )
    if config.pooling == "retained_fraction":
        notes.append(
            "The healthy expectation is the GLI 2017 predicted DLCO times the global "
            "factor. Outside the GLI age and height range the training mean replaces the "
            "GLI value, so the estimate is not anchored to the subject."
        )
        if "learned" in terms:
            notes.append(
                "The learned factor reads all metadata, smoking and pack-years included, "
                "so part of a smoker's loss can sit in the expectation rather than in the "
                "patch deficits."
            )
    return notes


_INPUT_SPECS = {
    "hu": (
        "int16",
        ["B", "S", "S", "S"],
        "HU",
        f"hu.npy patches, axes (k, j, i); {NO_DATA_HU} where there is no data",
    ),
    "mask": (
        "uint8",
        ["B", "S", "S", "S"],
        "label",
        "mask.npy patches: 0 outside, 1 right, 2 left lung",
    ),
    "embeddings": (
        "float32",
        ["N", "D"],
        "none",
        "encoder output for every patch of one bag",
    ),
    "lung_ml": ("float32", ["N"], "mL", "lung_ml.npy"),
    "zone": ("uint8", ["N"], "code", "zone.npy; codes as in the card's zones table"),
    "side": ("uint8", ["N"], "code", "side.npy: 1 right, 2 left"),
    "metadata": (
        "float32",
        ["M"],
        "see normalisation.metadata",
        "raw values in normalisation.metadata order; NaN where missing",
    ),
}
_OUTPUT_SPECS = {
    "embedding": ("float32", ["B", "D"], "none", "patch embedding"),
    "dlco": ("float32", [1], "ml/min/mmHg", "DLCO estimate"),
    "sigma": (
        "float32",
        [1],
        "ml/min/mmHg",
        f"predicted standard deviation; 95% interval is dlco +/- {INTERVAL_Z:.2f} sigma",
    ),
    "contributions": (
        "float32",
        ["N"],
        "ml/min/mmHg",
        "per-patch contribution; sums to dlco",
    ),
    "patch_weights": (
        "float32",
        ["N"],
        "share",
        "contribution share (additive) or attention weight; sums to 1",
    ),
    "conductance_per_ml": (
        "float32",
        ["N"],
        "ml/min/mmHg per mL",
        "conductance per mL of lung (attention: whole-lung value repeated)",
    ),
    "global_factor": (
        "float32",
        [1],
        "dimensionless",
        "subject-level factor applied to every contribution",
    ),
    "expected": (
        "float32",
        ["N"],
        "ml/min/mmHg",
        "contribution the patch would make if healthy; expected - contributions is its "
        "deficit",
    ),
    "retained_fraction": (
        "float32",
        ["N"],
        "share",
        "share of the patch's healthy conductance that it retains, in (0, 1)",
    ),
}


_ADDITIVITY = {
    "additive": (
        "contributions[n] = global_factor * lung_ml[n] * conductance_per_ml[n] and "
        "dlco = sum(contributions)"
    ),
    "attention": (
        "contributions[n] = patch_weights[n] * dlco (attention shares, not conductances)"
    ),
    "retained_fraction": (
        "contributions[n] = expected[n] * retained_fraction[n] and dlco = "
        "sum(contributions); sum(expected) = reference x global_factor, where the "
        "reference is the GLI predicted DLCO (its training mean when missing), or "
        "conductance scale x lung volume for a model without metadata"
    ),
}


def _io_entries(names: Sequence[str], specs: dict[str, tuple]) -> list[dict[str, Any]]:
    entries = []
    for name in names:
        dtype, shape, unit, description = specs[name]
        entries.append(
            {
                "name": name,
                "dtype": dtype,
                "shape": shape,
                "unit": unit,
                "description": description,
            }
        )
    return entries


def build_model_card(
    checkpoint: dict[str, Any],
    run_dir: str,
    graphs: dict[str, Any],
    files: dict[str, str],
    *,
    model_id: str,
    model_version: str,
    opset: int,
) -> dict[str, Any]:
    """Assemble ``model-card.json`` from the checkpoint and the run folder's summaries."""
    config = TrainConfig.from_dict(checkpoint["config"])
    stats = checkpoint["stats"]
    preprocessing = checkpoint["preprocessing"]
    recomputed = preprocess_params_hash(
        preprocessing["parameters"], preprocessing["bagFormatVersion"]
    )
    if recomputed != preprocessing["hash"]:
        logger.warning(
            "bag preprocessingHash %s differs from the hash recomputed in Python (%s); the "
            "card keeps the bags' value",
            preprocessing["hash"],
            recomputed,
        )

    def read_json(name: str) -> Any:
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    metrics = read_json("metrics.json")
    if metrics is not None and metrics.get("bestEpoch") != checkpoint["epoch"]:
        logger.warning(
            "metrics.json describes epoch %s but the exported checkpoint is epoch %s; "
            "export checkpoint-best.pt for matching held-out metrics",
            metrics.get("bestEpoch"),
            checkpoint["epoch"],
        )
    encoder_inputs, encoder_outputs = graphs["encoder"]
    aggregator_inputs, aggregator_outputs = graphs["aggregator"]
    return {
        "cardFormatVersion": CARD_FORMAT_VERSION,
        "modelId": model_id,
        "modelVersion": model_version,
        "trainingPackageVersion": __version__,
        "torchVersion": str(torch.__version__),
        "onnxOpset": opset,
        "bagFormatVersions": list(SUPPORTED_FORMAT_VERSIONS),
        "preprocessing": preprocessing["parameters"],
        "preprocessingHash": preprocessing["hash"],
        "files": files,
        "encoder": {
            "file": files["encoder"],
            "inputs": _io_entries(encoder_inputs, _INPUT_SPECS),
            "outputs": _io_entries(encoder_outputs, _OUTPUT_SPECS),
            "embeddingDim": config.embedding_dim,
            "patchSizeVoxels": graphs["patch_size"],
        },
        "aggregator": {
            "file": files["aggregator"],
            "pooling": config.pooling,
            "inputs": _io_entries(aggregator_inputs, _INPUT_SPECS),
            "outputs": _io_entries(aggregator_outputs, _OUTPUT_SPECS),
            "additivity": _ADDITIVITY[config.pooling],
            "globalFactor": config.effective_global_factor,
        },
        "normalisation": {
            "huClip": list(config.hu_clip),
            "huScaling": (
                "clip to huClip, then map linearly to [-1, 1]; applied inside encoder.onnx"
            ),
            "mask": "mask > 0 becomes 1 (lung), else 0; applied inside encoder.onnx",
            "noData": (
                f"hu == {NO_DATA_HU} marks voxels without data; encoder.onnx sets their "
                "scaled HU to 0 and flags them in a separate input channel"
            ),
            "metadata": [
                {"name": name, "unit": unit, "mean": mean, "std": std}
                for (name, unit), mean, std in zip(
                    METADATA_FEATURES, stats["metadata_mean"], stats["metadata_std"]
                )
            ],
            "metadataMissing": "pass NaN; the aggregator replaces it with the training mean",
            "metadataUsed": config.use_metadata,
            "conductanceScaleMlMinMmHgPerMl": stats["conductance_scale"],
        },
        "zones": preprocessing.get("zones", {}),
        "zoneCodesEncoded": stats["num_zone_codes"],
        "referencePatch": _reference_patch_entry(
            files, read_json("reference-patch.json")
        ),
        "uncertainty": {
            "output": "sigma",
            "interval": f"dlco +/- {INTERVAL_Z:.4f} * sigma",
            "nominalCoverage": 0.95,
            "training": config.loss,
        },
        "trainingCohort": read_json("cohort.json"),
        "metrics": metrics,
        "training": {
            "config": config.to_dict(),
            "seed": config.seed,
            "exportedEpoch": checkpoint["epoch"],
            "metricsEpoch": None if metrics is None else metrics.get("bestEpoch"),
        },
        "intendedUse": INTENDED_USE,
        "limitations": limitations(config),
    }


def summarise_training_data(rows: Sequence[ManifestRow]) -> dict[str, Any]:
    """Describe what the training scans were and the acquisition range they covered.

    Returns:
        ``source`` (``kind`` "simulated", ``generator`` and ``realPatients``) when every
        row comes from ``dlco_train.simulator``, and ``acquisition`` with the scanner
        profiles, kernels, slice thickness, pixel spacing (mm) and noise SD (HU) when the
        manifest records them. Pixel spacing and noise come from the simulator's profile
        table. A manifest without the simulator's columns gets neither key, so the card
        does not claim to know what the data were.
    """
    from .simulator.scanner import PROFILES

    if not rows or not all(
        all(column in row.columns for column in _SIMULATOR_COLUMNS) for row in rows
    ):
        return {}
    names = sorted({row.columns["scanner_profile"] for row in rows})
    real_backgrounds = any(name.startswith(_REAL_BACKGROUND_PREFIX) for name in names)
    source: dict[str, Any] = {"kind": "simulated", "generator": "dlco_train.simulator"}
    # Simulated lesions on real CT backgrounds still contain real patients' anatomy.
    source["realPatients"] = "CT backgrounds only" if real_backgrounds else False

    acquisition: dict[str, Any] = {"scannerProfiles": names}
    kernels = sorted({row.columns.get("kernel", "") for row in rows} - {""})
    if kernels:
        acquisition["kernels"] = kernels
    thickness = [_float_or_none(row.columns.get("slice_thickness_mm")) for row in rows]
    if all(value is not None for value in thickness):
        acquisition["sliceThicknessMm"] = {"min": min(thickness), "max": max(thickness)}
    profiles = [PROFILES.get(name) for name in names]
    if all(profile is not None for profile in profiles):
        acquisition["pixelSpacingMm"] = {
            "min": min(profile.pixel_mm for profile in profiles),
            "max": max(profile.pixel_mm for profile in profiles),
        }
        acquisition["noiseSdHu"] = {
            "min": min(profile.noise_hu for profile in profiles),
            "max": max(profile.noise_hu for profile in profiles),
        }
    return {"source": source, "acquisition": acquisition}


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _reference_patch_entry(
    files: dict[str, str], description: Any
) -> dict[str, Any] | None:
    if "referencePatch" not in files:
        return None
    entry = {
        "file": files["referencePatch"],
        "dtype": "int16",
        "unit": "HU",
        "use": (
            "replace a patch's hu with this array and keep its mask, then re-run the "
            "encoder and the aggregator"
        ),
    }
    entry.update(description or {})
    return entry
