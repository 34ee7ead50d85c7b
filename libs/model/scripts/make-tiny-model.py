"""Write the tiny test models of libs/model with the training package's ONNX export.

Each model is a randomly initialised, untrained DlcoModel with few channels (seeded),
built for the TypeScript preprocessing defaults. ``dlco_train.export.export_model``
exports it from a run folder that this script fills with fixture files: the checkpoint,
a synthetic healthy reference patch, a linear baseline with hand-set coefficients and a
cohort note.
Next to each model, ``expected.json`` stores the outputs PyTorch computes for a fixed
random bag, which is written as a patch bag folder in ``<out>/<model>-bag``.

The estimates of these models mean nothing: they exist to test loading, inference and
result assembly. Run ``libs/model/scripts/make-tiny-model.sh`` to regenerate them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

from dlco_train.bags import NO_DATA_HU, preprocess_params_hash
from dlco_train.config import TrainConfig
from dlco_train.export import AGGREGATOR_OUTPUTS, export_model
from dlco_train.jsonio import write_json
from dlco_train.model import build_model
from dlco_train.testing import write_bag

# DEFAULT_PREPROCESS_PARAMS and BAG_FORMAT_VERSION of libs/preprocess/src/lib/params.ts.
# The TypeScript tests compare the card's hash with the running preprocessing, so a
# change there fails them until this script is run again with the new values.
PREPROCESS_PARAMS = {
    "workingSpacingMm": 2,
    "patchSizeVoxels": 16,
    "patchStrideVoxels": 16,
    "minLungFraction": 0.1,
    "rindDepthMm": 10,
}
BAG_FORMAT_VERSION = 1

# Zone codes of libs/preprocess zone-codes.ts: 1 + 6 * (lung - 1) + 2 * third + core.
ZONE_NAMES = {
    str(1 + 6 * (lung - 1) + 2 * third + core): f"{side}-{third_name}-{depth}"
    for lung, side in ((1, "right"), (2, "left"))
    for third, third_name in enumerate(("upper", "middle", "lower"))
    for core, depth in enumerate(("rind", "core"))
}

try:
    from dlco_train.manifest import METADATA_FEATURES
except ImportError:  # training packages that predate dlco_train.manifest
    from dlco_train.dataset import METADATA_FEATURES

# Training mean and standard deviation of each metadata feature the package defines.
METADATA_STATS = {
    "age": (55.0, 12.0),
    "sex_male": (0.5, 0.5),
    "height_cm": (170.0, 9.0),
    "weight_kg": (75.0, 13.0),
    "bmi": (25.0, 4.0),
    "smoking_never": (0.3, 0.5),
    "smoking_former": (0.4, 0.5),
    "smoking_current": (0.3, 0.5),
    "pack_years": (20.0, 18.0),
    "hb_g_dl": (14.0, 1.4),
    "cohb_percent": (2.0, 2.0),
    "gli_dlco_predicted": (25.0, 5.0),
}
METADATA_NAMES = [name for name, _ in METADATA_FEATURES]

STATS = {
    "num_zone_codes": 13,
    "metadata_mean": [METADATA_STATS[name][0] for name in METADATA_NAMES],
    "metadata_std": [METADATA_STATS[name][1] for name in METADATA_NAMES],
    # About 25 ml/min/mmHg for 4.5 L of lung when every patch has the initial
    # conductance.
    "conductance_scale": 0.0055,
    "log_variance_init": math.log(20.0),
}

# Model folder name to pooling and global factor.
MODELS = {
    "tiny-model": ("additive", "hb+learned"),
    "tiny-model-attention": ("attention", "hb+learned"),
    "tiny-model-retained-fraction": ("retained_fraction", "hb+cohb+learned"),
}

BAG_PATCHES = 6
PATCH_SIZE = PREPROCESS_PARAMS["patchSizeVoxels"]
# Raw metadata of the fixed bag by feature, with pack-years missing.
BAG_SUBJECT = {
    "age": 63.0,
    "sex_male": 1.0,
    "height_cm": 172.0,
    "weight_kg": 81.0,
    "bmi": 81.0 / 1.72**2,
    "smoking_never": 0.0,
    "smoking_former": 1.0,
    "smoking_current": 0.0,
    "pack_years": math.nan,
    "hb_g_dl": 13.1,
    "cohb_percent": 2.5,
}
try:
    from dlco_train.manifest import gli_predicted_dlco

    BAG_SUBJECT["gli_dlco_predicted"] = gli_predicted_dlco(63.0, 1.0, 172.0)
except ImportError:  # training packages without the GLI metadata feature
    pass
BAG_METADATA = [BAG_SUBJECT[name] for name in METADATA_NAMES]


def make_checkpoint(pooling: str, global_factor: str, seed: int) -> dict:
    """Build a random, untrained checkpoint with the layout ``run_training`` saves."""
    config = TrainConfig(
        pooling=pooling,
        global_factor=global_factor,
        encoder_channels=[4, 8],
        embedding_dim=8,
        hidden_dim=16,
        seed=seed,
    )
    torch.manual_seed(seed)
    model = build_model(config, STATS)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # The heads start at constant outputs; random offsets make patches differ.
        for parameter in model.aggregator.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return {
        "config": config.to_dict(),
        "stats": STATS,
        "model": model.state_dict(),
        "epoch": 0,
        "preprocessing": {
            "parameters": dict(PREPROCESS_PARAMS),
            "hash": preprocess_params_hash(PREPROCESS_PARAMS, BAG_FORMAT_VERSION),
            "bagFormatVersion": BAG_FORMAT_VERSION,
            "zones": ZONE_NAMES,
        },
    }


def write_run_files(run_dir: str, rng: np.random.Generator) -> None:
    """Write the run-folder files that ``export_model`` copies into the model."""
    reference = np.clip(rng.normal(-850.0, 30.0, (PATCH_SIZE,) * 3), -1024, 600)
    np.save(
        os.path.join(run_dir, "reference-patch-hu.npy"),
        np.rint(reference).astype("<i2"),
    )
    write_json(
        os.path.join(run_dir, "reference-patch.json"),
        {
            "healthyRule": "fixture: -850 HU with Gaussian noise (SD 30 HU)",
            "subjects": 0,
        },
    )
    write_json(os.path.join(run_dir, "baseline.json"), fixture_baseline())
    write_json(
        os.path.join(run_dir, "cohort.json"),
        {
            "note": "untrained test fixture; no subject was used",
            "train": {"scans": 0, "subjects": 0},
        },
    )


def fixture_baseline() -> dict:
    """Return a ``LinearBaseline.to_json`` object with hand-set coefficients."""
    features = [
        ("laa950_percent", "% of lung voxels below -950 HU", "bag.json qct", -0.4),
        ("haa_percent", "% of lung voxels from -600 to -250 HU", "bag.json qct", -0.3),
        ("lung_volume_ml", "mL", "bag.json qct", 0.003),
        ("mean_lung_density_hu", "HU", "bag.json qct", 0.01),
        ("age", "years", "manifest", -0.15),
        ("sex_male", "1 male, 0 female", "manifest", 4.0),
        ("height_cm", "cm", "manifest", 0.2),
    ]
    return {
        "formatVersion": 1,
        "model": "ordinary least squares",
        "target": {"name": "dlco", "unit": "ml/min/mmHg"},
        "formula": "dlco = intercept + sum(coefficient * value)",
        "intercept": -2.0,
        "features": [
            {
                "name": name,
                "unit": unit,
                "source": source,
                "coefficient": coefficient,
                "coefficientUnit": f"ml/min/mmHg per ({unit})",
            }
            for name, unit, source, coefficient in features
        ],
        "trainingN": 0,
        "residualSd": 4.0,
        "residualSdUnit": "ml/min/mmHg",
        "qctFields": "laa950Percent,haaPercent,volumeMl,meanLungDensityHu",
        "preprocessingHash": preprocess_params_hash(
            PREPROCESS_PARAMS, BAG_FORMAT_VERSION
        ),
    }


def fixed_bag(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return a random bag with partial lung masks and no-data voxels."""
    n, s = BAG_PATCHES, PATCH_SIZE
    hu = rng.normal(-820.0, 80.0, (n, s, s, s))
    mask = np.ones((n, s, s, s), dtype=np.uint8)
    mask[n // 2 :] = 2
    mask[1, :5] = 0
    hu[1, :5] = 30.0
    hu[2, :, :2] = NO_DATA_HU
    mask[2, :, :2] = 0
    lung_voxels = (mask > 0).reshape(n, -1).sum(axis=1)
    voxel_ml = PREPROCESS_PARAMS["workingSpacingMm"] ** 3 / 1000.0
    return {
        "hu": np.where(hu == NO_DATA_HU, NO_DATA_HU, np.clip(np.rint(hu), -1024, 3071)),
        "mask": mask,
        "centers_mm": rng.normal(0.0, 80.0, (n, 3)),
        # Side by side along i, as on the synthetic working grid of write_bag.
        "corner_ijk": np.stack([np.arange(n) * s, np.zeros(n), np.zeros(n)], axis=1),
        "lung_ml": lung_voxels * voxel_ml,
        "zone": np.array([1, 2, 3, 7, 9, 12])[:n],
        "side": np.where(np.arange(n) < n // 2, 1, 2),
        "rind_fraction": rng.random(n),
    }


def expected_outputs(
    checkpoint: dict, bag_dir: str, card: dict, model_dir: str
) -> dict:
    """Run the bag through the PyTorch model and return what expected.json stores."""
    try:
        from dlco_train.checkpoints import model_from_checkpoint
    except ImportError:  # training packages that predate dlco_train.checkpoints
        from dlco_train.train import model_from_checkpoint

    model, _ = model_from_checkpoint(checkpoint)

    def load(name: str) -> torch.Tensor:
        return torch.from_numpy(np.load(os.path.join(bag_dir, f"{name}.npy")))

    metadata = torch.tensor(BAG_METADATA, dtype=torch.float32)
    reference_hu = torch.from_numpy(
        np.load(os.path.join(model_dir, "reference-patch-hu.npy"))
    )
    with torch.no_grad():
        embeddings = model.encoder(load("hu"), load("mask"))
        outputs = model.aggregator(
            embeddings, load("lung_ml"), load("zone"), load("side"), metadata
        )
        reference_embedding = model.encoder(
            reference_hu[None], torch.ones((1,) + reference_hu.shape, dtype=torch.uint8)
        )
    values = {name: outputs[name].double().tolist() for name in output_names(model)}
    return {
        "note": "PyTorch outputs of the untrained fixture model for the bag folder",
        "modelId": card["modelId"],
        "bag": os.path.basename(bag_dir),
        "metadata": [None if math.isnan(value) else value for value in BAG_METADATA],
        "metadataNames": [entry["name"] for entry in card["normalisation"]["metadata"]],
        "embeddings": embeddings.double().tolist(),
        "referenceEmbeddingAllLung": reference_embedding[0].double().tolist(),
        "outputs": values,
    }


def output_names(model: torch.nn.Module) -> tuple[str, ...]:
    """Return the exported aggregator's output names, pooling-specific ones included."""
    try:
        from dlco_train.export import aggregator_outputs
    except ImportError:  # training packages whose poolings all share AGGREGATOR_OUTPUTS
        return AGGREGATOR_OUTPUTS
    return aggregator_outputs(model.aggregator_pooling)


def make_model(
    out_dir: str, name: str, pooling: str, global_factor: str, seed: int
) -> None:
    """Export one tiny model to ``out_dir/name`` and its bag to ``out_dir/name-bag``."""
    model_dir = os.path.join(out_dir, name)
    bag_dir = os.path.join(out_dir, f"{name}-bag")
    for folder in (model_dir, bag_dir):
        shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    checkpoint = make_checkpoint(pooling, global_factor, seed)
    with tempfile.TemporaryDirectory() as run_dir:
        write_run_files(run_dir, rng)
        checkpoint_path = os.path.join(run_dir, "checkpoint-best.pt")
        torch.save(checkpoint, checkpoint_path)
        card = export_model(
            checkpoint_path,
            model_dir,
            model_id=f"dlco-ct-{name}",
            model_version="fixture-1",
        )
    write_bag(
        bag_dir,
        fixed_bag(rng),
        params=dict(PREPROCESS_PARAMS),
        extra_meta={"zones": ZONE_NAMES},
    )
    expected = expected_outputs(checkpoint, bag_dir, card, model_dir)
    with open(os.path.join(model_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder that receives the models")
    parser.add_argument(
        "--seed", type=int, default=20240611, help="seed of weights and bag"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=list(MODELS),
        help="model folders to write (default: all); the others are left as they are",
    )
    args = parser.parse_args(argv)
    for index, (name, (pooling, global_factor)) in enumerate(MODELS.items()):
        # Each model keeps its seed, so writing a subset reproduces those folders only.
        if name in args.models:
            make_model(args.out, name, pooling, global_factor, args.seed + index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
