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
import inspect
import logging
import os
import shutil
import sys
from typing import Any, Sequence

import onnx
import torch

from . import __version__
from .checkpoints import load_checkpoint, model_from_checkpoint
from .jsonio import write_json
from .model_card import build_model_card

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_OPSET",
    "ENCODER_INPUTS",
    "AGGREGATOR_INPUTS",
    "AGGREGATOR_OUTPUTS",
    "POOLING_OUTPUTS",
    "aggregator_outputs",
    "AggregatorForExport",
    "export_model",
    "main",
]

# Opset 17 is the newest that the PyTorch 1.13 exporter supports.
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(14, 18)

# PyTorch 2.9 made the dynamo exporter the default of torch.onnx.export. The tracing
# exporter is the one that also exists on 1.13, so it is requested wherever the
# argument exists.
_TRACING_EXPORTER = (
    {"dynamo": False}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters
    else {}
)

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
#: Extra aggregator outputs of a pooling, after ``AGGREGATOR_OUTPUTS``.
POOLING_OUTPUTS = {"retained_fraction": ("expected", "retained_fraction")}


def aggregator_outputs(pooling: str) -> tuple[str, ...]:
    """Return the output names of the exported aggregator graph of a pooling."""
    return AGGREGATOR_OUTPUTS + POOLING_OUTPUTS.get(pooling, ())


class AggregatorForExport(torch.nn.Module):
    """The aggregator with tuple outputs in the order of ``names`` for ONNX."""

    def __init__(self, aggregator: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.aggregator = aggregator
        self.names = names

    def forward(self, embeddings, lung_ml, zone, side, metadata):  # noqa: D102
        outputs = self.aggregator(embeddings, lung_ml, zone, side, metadata)
        return tuple(outputs[name] for name in self.names)


def _example_inputs(patch_size: int, count: int, seed: int = 0):
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
    """Write ``encoder.onnx`` and ``aggregator.onnx`` into ``out_dir``.

    Returns:
        ``encoder`` and ``aggregator``: (input names, output names) as stored in each
        graph, and ``patch_size`` S.

    Raises:
        ValueError: If ``opset`` is outside ``SUPPORTED_OPSETS``.
    """
    if opset not in SUPPORTED_OPSETS:
        first, last = SUPPORTED_OPSETS.start, SUPPORTED_OPSETS.stop - 1
        raise ValueError(f"opset {opset} is not supported; use {first} to {last}")
    model, _ = model_from_checkpoint(checkpoint)
    patch_size = int(checkpoint["preprocessing"]["parameters"]["patchSizeVoxels"])
    hu, mask = _example_inputs(patch_size, count=3)
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
            **_TRACING_EXPORTER,
        )

        count = 5
        embeddings = model.encoder(*_example_inputs(patch_size, count, seed=1))
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
            "expected",
            "retained_fraction",
        }
        output_names = aggregator_outputs(model.aggregator_pooling)
        torch.onnx.export(
            AggregatorForExport(model.aggregator, output_names),
            aggregator_args,
            aggregator_path,
            input_names=list(AGGREGATOR_INPUTS),
            output_names=list(output_names),
            dynamic_axes={name: {0: "N"} for name in per_patch},
            opset_version=opset,
            do_constant_folding=True,
            **_TRACING_EXPORTER,
        )
    encoder_io = _graph_io(encoder_path)
    aggregator_io = _graph_io(aggregator_path)
    return {
        "encoder": encoder_io,
        "aggregator": aggregator_io,
        "patch_size": patch_size,
    }


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
