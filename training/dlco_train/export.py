"""Export a trained checkpoint to ONNX with a model card.

Usage::

    python -m dlco_train.export --checkpoint RUN_DIR/checkpoint-best.pt --out MODEL_DIR

``MODEL_DIR`` receives ``encoder.onnx`` (dynamic batch), ``aggregator.onnx`` (dynamic
patch count), ``model-card.json``, ``reference-patch-hu.npy`` and ``baseline.json`` when
the run has them. The export uses the classic tracing ``torch.onnx.export`` so it works on
PyTorch 1.13 and 2.x alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
from typing import Any, Sequence

import onnx
import torch

from . import __version__
from .bags import SUPPORTED_FORMAT_VERSIONS, preprocess_params_hash
from .checkpoints import load_checkpoint, model_from_checkpoint
from .config import TrainConfig
from .jsonio import write_json
from .manifest import METADATA_FEATURES
from .metrics import INTERVAL_Z

logger = logging.getLogger(__name__)

__all__ = [
    "CARD_FORMAT_VERSION",
    "DEFAULT_OPSET",
    "ENCODER_INPUTS",
    "AGGREGATOR_INPUTS",
    "AGGREGATOR_OUTPUTS",
    "AggregatorForExport",
    "export_model",
    "main",
]

CARD_FORMAT_VERSION = 1
# Opset 17 is the newest that the PyTorch 1.13 exporter supports.
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(14, 18)

ENCODER_INPUTS = ("hu", "mask")
ENCODER_OUTPUTS = ("embedding",)
AGGREGATOR_INPUTS = ("embeddings", "lung_ml", "zone", "side", "metadata")
AGGREGATOR_OUTPUTS = (
    "dlco",
    "sigma",
    "contributions",
    "patch_weights",
    "conductance_per_ml",
    "global_factor",
)

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
    "in metrics (coverage95 on held-out scans).",
    "Contributions are model attributions: for additive pooling they are each patch's "
    "share of the estimate, which is not a measured regional DLCO.",
    "Occlusion with the reference patch measures model sensitivity, not causation.",
    "Carboxyhaemoglobin (COHb) is not an input, so its effect on measured DLCO is not "
    "modelled.",
]


class AggregatorForExport(torch.nn.Module):
    """The aggregator with tuple outputs in ``AGGREGATOR_OUTPUTS`` order for ONNX."""

    def __init__(self, aggregator: torch.nn.Module) -> None:
        super().__init__()
        self.aggregator = aggregator

    def forward(self, embeddings, lung_ml, zone, side, metadata):  # noqa: D102
        outputs = self.aggregator(embeddings, lung_ml, zone, side, metadata)
        return tuple(outputs[name] for name in AGGREGATOR_OUTPUTS)


def _example_inputs(config: TrainConfig, patch_size: int, count: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    hu = torch.randint(
        -1024, 400, (count, patch_size, patch_size, patch_size), generator=generator
    )
    mask = torch.randint(
        0, 3, (count, patch_size, patch_size, patch_size), generator=generator
    )
    return hu.to(torch.int16), mask.to(torch.uint8)


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _graph_io(path: str) -> tuple[list[str], list[str]]:
    model = onnx.load(path)
    onnx.checker.check_model(model)
    return [i.name for i in model.graph.input], [o.name for o in model.graph.output]


def export_onnx(
    checkpoint: dict[str, Any], out_dir: str, opset: int = DEFAULT_OPSET
) -> dict[str, Any]:
    """Write ``encoder.onnx`` and ``aggregator.onnx`` and return their graph inputs.

    Raises:
        ValueError: If ``opset`` is outside ``SUPPORTED_OPSETS``.
    """
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(
            f"opset {opset} is not supported; use {SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1}"
        )
    model, config = model_from_checkpoint(checkpoint)
    patch_size = int(checkpoint["preprocessing"]["parameters"]["patchSizeVoxels"])
    hu, mask = _example_inputs(config, patch_size, count=3)
    encoder_path = os.path.join(out_dir, "encoder.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model.encoder,
            (hu, mask),
            encoder_path,
            input_names=list(ENCODER_INPUTS),
            output_names=list(ENCODER_OUTPUTS),
            dynamic_axes={"hu": {0: "B"}, "mask": {0: "B"}, "embedding": {0: "B"}},
            opset_version=opset,
            do_constant_folding=True,
        )

        count = 5
        embeddings = model.encoder(*_example_inputs(config, patch_size, count, seed=1))
        metadata = torch.tensor(
            checkpoint["stats"]["metadata_mean"], dtype=torch.float32
        )
        aggregator_args = (
            embeddings,
            torch.full((count,), 20.0),
            torch.ones(count, dtype=torch.uint8),
            torch.ones(count, dtype=torch.uint8),
            metadata,
        )
        aggregator_path = os.path.join(out_dir, "aggregator.onnx")
        per_patch = {
            "embeddings",
            "lung_ml",
            "zone",
            "side",
            "contributions",
            "patch_weights",
            "conductance_per_ml",
        }
        torch.onnx.export(
            AggregatorForExport(model.aggregator),
            aggregator_args,
            aggregator_path,
            input_names=list(AGGREGATOR_INPUTS),
            output_names=list(AGGREGATOR_OUTPUTS),
            dynamic_axes={name: {0: "N"} for name in per_patch},
            opset_version=opset,
            do_constant_folding=True,
        )
    encoder_io = _graph_io(encoder_path)
    aggregator_io = _graph_io(aggregator_path)
    return {
        "encoder": encoder_io,
        "aggregator": aggregator_io,
        "patch_size": patch_size,
    }


_INPUT_SPECS = {
    "hu": ("int16", ["B", "S", "S", "S"], "HU", "hu.npy patches, axes (k, j, i)"),
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

    encoder_inputs, encoder_outputs = graphs["encoder"]
    aggregator_inputs, aggregator_outputs = graphs["aggregator"]
    return {
        "cardFormatVersion": CARD_FORMAT_VERSION,
        "modelId": model_id,
        "modelVersion": model_version,
        "trainingPackageVersion": __version__,
        "torchVersion": torch.__version__,
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
            "additivity": (
                "contributions[n] = global_factor * lung_ml[n] * conductance_per_ml[n] and "
                "dlco = sum(contributions)"
                if config.pooling == "additive"
                else "contributions[n] = patch_weights[n] * dlco (attention shares, not conductances)"
            ),
            "globalFactor": config.effective_global_factor,
        },
        "normalisation": {
            "huClip": list(config.hu_clip),
            "huScaling": "clip to huClip, then map linearly to [-1, 1]; applied inside encoder.onnx",
            "mask": "mask > 0 becomes 1 (lung), else 0; applied inside encoder.onnx",
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
            run_dir, files, read_json("reference-patch.json")
        ),
        "uncertainty": {
            "output": "sigma",
            "interval": f"dlco +/- {INTERVAL_Z:.4f} * sigma",
            "nominalCoverage": 0.95,
            "training": config.loss,
        },
        "trainingCohort": read_json("cohort.json"),
        "metrics": read_json("metrics.json"),
        "training": {
            "config": config.to_dict(),
            "seed": config.seed,
            "bestEpoch": checkpoint["epoch"],
        },
        "intendedUse": INTENDED_USE,
        "limitations": LIMITATIONS,
    }


def _reference_patch_entry(
    run_dir: str, files: dict[str, str], description: Any
) -> dict[str, Any] | None:
    if "referencePatch" not in files:
        return None
    entry = {
        "file": files["referencePatch"],
        "dtype": "int16",
        "unit": "HU",
        "use": "replace a patch's hu with this array and keep its mask, then re-run encoder and aggregator",
    }
    entry.update(description or {})
    return entry


def export_model(
    checkpoint_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    model_id: str = "dlco-ct-mil",
    model_version: str | None = None,
    opset: int = DEFAULT_OPSET,
) -> dict[str, Any]:
    """Export a checkpoint to ``out_dir`` and return the model card.

    Args:
        checkpoint_path: ``checkpoint-best.pt`` or ``checkpoint-last.pt`` of a run; the
            run's summaries are read from the same folder.
        out_dir: Model folder to create or overwrite.
        model_id: Stable name of the model.
        model_version: Version string; default is the package version plus the first 12
            hex digits of the SHA-256 of both ONNX files.
        opset: ONNX opset, 14 to 17.
    """
    checkpoint_path = os.fspath(checkpoint_path)
    out_dir = os.fspath(out_dir)
    run_dir = os.path.dirname(os.path.abspath(checkpoint_path))
    os.makedirs(out_dir, exist_ok=True)
    checkpoint = load_checkpoint(checkpoint_path)

    graphs = export_onnx(checkpoint, out_dir, opset)
    files = {"encoder": "encoder.onnx", "aggregator": "aggregator.onnx"}
    for name, key in (
        ("reference-patch-hu.npy", "referencePatch"),
        ("baseline.json", "baseline"),
    ):
        source = os.path.join(run_dir, name)
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(out_dir, name))
            files[key] = name

    if model_version is None:
        digest = hashlib.sha256()
        for name in ("encoder.onnx", "aggregator.onnx"):
            digest.update(_file_sha256(os.path.join(out_dir, name)).encode())
        model_version = f"{__version__}+{digest.hexdigest()[:12]}"
    card = build_model_card(
        checkpoint,
        run_dir,
        graphs,
        files,
        model_id=model_id,
        model_version=model_version,
        opset=opset,
    )
    write_json(os.path.join(out_dir, "model-card.json"), card)
    logger.info("exported %s %s to %s", model_id, model_version, out_dir)
    return card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Export a training checkpoint to ONNX with a model card."
    )
    parser.add_argument(
        "--checkpoint", required=True, help="RUN_DIR/checkpoint-best.pt"
    )
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument(
        "--model-id", default="dlco-ct-mil", help="stable model name for the card"
    )
    parser.add_argument(
        "--model-version",
        help="version for the card; default: package version + ONNX hash",
    )
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset, 14 to 17"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        export_model(
            args.checkpoint,
            args.out,
            model_id=args.model_id,
            model_version=args.model_version,
            opset=args.opset,
        )
    except (ValueError, OSError) as error:
        logger.error("export failed: %s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
