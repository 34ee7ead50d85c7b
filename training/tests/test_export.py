import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from dlco_train.bags import NO_DATA_HU, preprocess_params_hash, read_bag
from dlco_train.config import TrainConfig
from dlco_train.export import (
    AGGREGATOR_OUTPUTS,
    aggregator_outputs,
    export_model,
    export_onnx,
)
from dlco_train.export import main as export_main
from dlco_train.manifest import METADATA_FEATURES
from dlco_train.model import build_model
from dlco_train.train import run_training

ort = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4
M = len(METADATA_FEATURES)
# Written out here, not taken from dlco_train.export, so a renamed output fails a test.
RETAINED_FRACTION_OUTPUTS = [
    "dlco",
    "sigma",
    "contributions",
    "patch_weights",
    "conductance_per_ml",
    "global_factor",
    "expected",
    "retained_fraction",
]


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def checkpoint_for(config, patch_size, seed=0, zones=None):
    """Build an untrained checkpoint with random weights for export tests."""
    stats = {
        "num_zone_codes": 7,
        "metadata_mean": [
            *(55.0, 0.5, 170.0, 75.0, 25.0, 0.3, 0.4, 0.3, 20.0, 14.0, 2.0),
            26.0,  # gli_dlco_predicted
        ],
        "metadata_std": [
            *(12.0, 0.5, 9.0, 13.0, 4.0, 0.5, 0.5, 0.5, 18.0, 1.4, 1.0),
            5.0,
        ],
        "conductance_scale": 0.004,
        "log_variance_init": math.log(20.0),
    }
    torch.manual_seed(seed)
    model = build_model(config, stats)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.aggregator.named_parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.2)
    params = {
        "workingSpacingMm": 2,
        "patchSizeVoxels": patch_size,
        "patchStrideVoxels": patch_size,
        "minLungFraction": 0.1,
        "rindDepthMm": 10,
    }
    return {
        "config": config.to_dict(),
        "stats": stats,
        "model": model.state_dict(),
        "epoch": 0,
        "preprocessing": {
            "parameters": params,
            "hash": preprocess_params_hash(params),
            "bagFormatVersion": 1,
            "zones": zones or {},
        },
    }


def compare_bag(checkpoint, out_dir, hu, mask, lung_ml, zone, side, metadata):
    """Run one bag through PyTorch and ONNX Runtime and return the max abs differences.

    Every output of the pooling is compared, ``expected`` and ``retained_fraction``
    included for retained-fraction pooling.
    """
    from dlco_train.train import model_from_checkpoint

    model, _ = model_from_checkpoint(checkpoint)
    names = aggregator_outputs(checkpoint["config"]["pooling"])
    encoder = session(out_dir / "encoder.onnx")
    aggregator = session(out_dir / "aggregator.onnx")
    onnx_embeddings = encoder.run(None, {"hu": hu, "mask": mask})[0]
    feeds = {
        "embeddings": onnx_embeddings,
        "lung_ml": lung_ml,
        "zone": zone,
        "side": side,
        "metadata": metadata,
    }
    feeds = {i.name: feeds[i.name] for i in aggregator.get_inputs()}
    onnx_outputs = dict(zip(names, aggregator.run(list(names), feeds)))
    with torch.no_grad():
        embeddings = model.encoder(torch.from_numpy(hu), torch.from_numpy(mask))
        torch_outputs = model.aggregator(
            embeddings,
            torch.from_numpy(lung_ml),
            torch.from_numpy(zone),
            torch.from_numpy(side),
            torch.from_numpy(metadata),
        )
    differences = {
        "embedding": float(np.abs(onnx_embeddings - embeddings.numpy()).max())
    }
    for name in names:
        differences[name] = float(
            np.abs(onnx_outputs[name] - torch_outputs[name].numpy()).max()
        )
    return differences, onnx_outputs


@pytest.mark.parametrize(
    "pooling, global_factor",
    [
        ("additive", "hb+learned"),
        ("attention", "hb+learned"),
        ("retained_fraction", "hb+cohb+learned"),
    ],
)
@pytest.mark.parametrize("patch_count", [1, 37])
@pytest.mark.parametrize("density", ["none", "shares", "histogram"])
def test_onnx_matches_pytorch_on_random_bags(
    tmp_path, pooling, global_factor, patch_count, density
):
    config = TrainConfig(
        pooling=pooling,
        global_factor=global_factor,
        encoder_channels=[8, 16, 32],
        embedding_dim=32,
        hidden_dim=32,
        encoder_density_features=density != "none",
        encoder_density_edges=[-950, -850, -700] if density == "histogram" else [],
    )
    checkpoint = checkpoint_for(config, patch_size=16)
    export_onnx(checkpoint, str(tmp_path))
    rng = np.random.default_rng(patch_count)
    hu = rng.integers(-1024, 600, (patch_count, 16, 16, 16)).astype(np.int16)
    hu[0, :3] = NO_DATA_HU
    mask = rng.integers(0, 3, (patch_count, 16, 16, 16)).astype(np.uint8)
    lung_ml = rng.uniform(1, 33, patch_count).astype(np.float32)
    zone = rng.integers(0, 7, patch_count).astype(np.uint8)
    side = rng.integers(1, 3, patch_count).astype(np.uint8)
    metadata = np.array(
        [63, 1, 172, 81, 27.4, 0, 1, 0, 35, np.nan, 3.0, 26.1], dtype=np.float32
    )
    differences, outputs = compare_bag(
        checkpoint, tmp_path, hu, mask, lung_ml, zone, side, metadata
    )
    for name, difference in differences.items():
        assert difference <= TOLERANCE, f"{name} differs by {difference}"
    assert outputs["contributions"].shape == (patch_count,)
    assert outputs["contributions"].sum() == pytest.approx(outputs["dlco"][0], rel=1e-5)
    if pooling == "retained_fraction":
        graph = session(tmp_path / "aggregator.onnx")
        names = [output.name for output in graph.get_outputs()]
        assert names == RETAINED_FRACTION_OUTPUTS
        np.testing.assert_allclose(
            outputs["contributions"],
            outputs["expected"] * outputs["retained_fraction"],
            rtol=1e-5,
        )
        # GLI value 26.1 times the global factor, from the ONNX graph alone.
        assert outputs["expected"].sum() == pytest.approx(
            26.1 * outputs["global_factor"][0], rel=1e-5
        )


@pytest.fixture(scope="module")
def exported(tiny_cohort, make_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run_training(make_config(epochs=1), *tiny_cohort, root / "run", device="cpu")
    card = export_model(
        root / "run" / "checkpoint-best.pt", root / "model", model_version="test"
    )
    return root, card


def test_model_card_fields(exported):
    root, card = exported
    with open(root / "model" / "model-card.json") as f:
        on_disk = json.load(f)
    assert on_disk == json.loads(json.dumps(card))

    for field in (
        "modelId",
        "modelVersion",
        "cardFormatVersion",
        "preprocessing",
        "preprocessingHash",
        "encoder",
        "aggregator",
        "normalisation",
        "zones",
        "referencePatch",
        "trainingCohort",
        "metrics",
        "intendedUse",
        "limitations",
        "uncertainty",
    ):
        assert field in card, field

    assert card["modelVersion"] == "test"
    assert "not diagnosis" in card["intendedUse"]
    assert [entry["name"] for entry in card["encoder"]["inputs"]] == ["hu", "mask"]
    assert [entry["name"] for entry in card["aggregator"]["outputs"]] == list(
        AGGREGATOR_OUTPUTS
    )

    assert len(card["normalisation"]["metadata"]) == M
    assert card["metrics"]["test"]["baseline"]["n"] > 0
    assert card["trainingCohort"]["train"]["scans"] > 0
    assert card["zones"] == {"1": "upper", "2": "middle", "3": "lower"}


def test_model_card_hash_matches_bags(exported, tiny_cohort):
    root, card = exported
    bags_dir, _ = tiny_cohort
    bag = read_bag(os.path.join(bags_dir, sorted(os.listdir(bags_dir))[0]))
    assert card["preprocessingHash"] == bag.preprocessing_hash
    assert card["preprocessing"] == bag.preprocessing
    read_bag(bag.path, expected_hash=card["preprocessingHash"])


def test_model_card_files_exist(exported):
    root, card = exported
    for name in card["files"].values():
        assert (root / "model" / name).exists(), name
    reference = np.load(root / "model" / card["referencePatch"]["file"])
    assert reference.dtype == np.int16
    assert reference.shape == (8, 8, 8)
    assert -1000 < float(reference.mean()) < -700


def test_exported_model_scores_cohort_bag(exported, tiny_cohort):
    root, card = exported
    bags_dir, _ = tiny_cohort
    bag = read_bag(
        os.path.join(bags_dir, "sub-000"), expected_hash=card["preprocessingHash"]
    )
    from dlco_train.train import load_checkpoint

    checkpoint = load_checkpoint(root / "run" / "checkpoint-best.pt")
    metadata = np.array(
        [50, 1, 170, 70, 24.2, 1, 0, 0, 0, 14.6, 1.0, 27.3], dtype=np.float32
    )
    differences, _ = compare_bag(
        checkpoint,
        root / "model",
        np.array(bag.hu),
        np.array(bag.mask),
        bag.lung_ml,
        bag.zone,
        bag.side,
        metadata,
    )
    assert max(differences.values()) <= TOLERANCE, differences


@pytest.fixture(scope="module")
def exported_retained(tiny_cohort, make_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("export-retained")
    config = make_config(
        epochs=1,
        pooling="retained_fraction",
        global_factor="hb+cohb+learned",
        encoder_density_features=True,
        encoder_density_edges=[-950.0, -850.0, -700.0],
    )
    run_training(config, *tiny_cohort, root / "run", device="cpu")
    card = export_model(
        root / "run" / "checkpoint-best.pt", root / "model", model_version="test"
    )
    return root, card


def test_retained_fraction_card_outputs(exported_retained):
    root, card = exported_retained
    aggregator = card["aggregator"]
    assert aggregator["pooling"] == "retained_fraction"
    assert aggregator["globalFactor"] == "hb+cohb+learned"
    outputs = {entry["name"]: entry for entry in aggregator["outputs"]}
    assert list(outputs) == RETAINED_FRACTION_OUTPUTS
    assert outputs["expected"]["unit"] == "ml/min/mmHg"
    assert outputs["expected"]["shape"] == ["N"]
    assert outputs["retained_fraction"]["shape"] == ["N"]
    assert "sum(expected)" in aggregator["additivity"]
    graph = session(root / "model" / "aggregator.onnx")
    names = [output.name for output in graph.get_outputs()]
    assert names == RETAINED_FRACTION_OUTPUTS
    metadata_names = [entry["name"] for entry in card["normalisation"]["metadata"]]
    assert metadata_names[-1] == "gli_dlco_predicted"


def test_retained_fraction_export_scores_cohort_bag(exported_retained, tiny_cohort):
    root, card = exported_retained
    bags_dir, manifest = tiny_cohort
    from dlco_train.manifest import read_manifest
    from dlco_train.train import load_checkpoint

    row = read_manifest(manifest)[0]
    bag = read_bag(
        os.path.join(bags_dir, row.scan_id), expected_hash=card["preprocessingHash"]
    )
    checkpoint = load_checkpoint(root / "run" / "checkpoint-best.pt")
    metadata = row.metadata.astype(np.float32)
    differences, outputs = compare_bag(
        checkpoint,
        root / "model",
        np.array(bag.hu),
        np.array(bag.mask),
        bag.lung_ml,
        bag.zone,
        bag.side,
        metadata,
    )
    assert max(differences.values()) <= TOLERANCE, differences
    assert set(differences) >= {"expected", "retained_fraction"}
    assert np.all(outputs["retained_fraction"] > 0)
    assert np.all(outputs["retained_fraction"] < 1)
    gli = float(metadata[-1])
    assert outputs["expected"].sum() == pytest.approx(
        gli * outputs["global_factor"][0], rel=1e-5
    )

    # Outside the GLI range serving passes NaN, and both graphs use the training mean.
    metadata[-1] = np.nan
    differences, outputs = compare_bag(
        checkpoint,
        root / "model",
        np.array(bag.hu),
        np.array(bag.mask),
        bag.lung_ml,
        bag.zone,
        bag.side,
        metadata,
    )
    assert max(differences.values()) <= TOLERANCE, differences
    gli_mean = card["normalisation"]["metadata"][-1]["mean"]
    assert gli_mean > 10
    assert outputs["expected"].sum() == pytest.approx(
        gli_mean * outputs["global_factor"][0], rel=1e-5
    )


REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_SCAN = REPO_ROOT.parent / "shared/data/real/cip-ct64/ct-64.nrrd"
DLCO_CLI = REPO_ROOT / "apps/cli/bin/dlco.js"


@pytest.fixture(scope="module")
def real_bag(tmp_path_factory):
    """Return a bag folder of a real chest CT, made by the TypeScript `dlco preprocess`.

    DLCO_TEST_REAL_BAG names an existing bag instead. Without it the test needs Node.js,
    the installed workspace (`npm ci`) and the real scan beside the repository.
    """
    given = os.environ.get("DLCO_TEST_REAL_BAG")
    if given:
        return given
    node = shutil.which("node")
    if node is None or not DLCO_CLI.exists() or not REAL_SCAN.exists():
        pytest.skip(f"needs node, {DLCO_CLI} and {REAL_SCAN}, or DLCO_TEST_REAL_BAG")
    out = tmp_path_factory.mktemp("real-bags")
    subprocess.run(
        [node, str(DLCO_CLI), "preprocess", str(REAL_SCAN), "--out", str(out), "--id", "cip"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return str(out / "cip")


@pytest.mark.parametrize(
    "pooling, global_factor",
    [("additive", "hb+learned"), ("retained_fraction", "hb+cohb+learned")],
)
def test_onnx_matches_pytorch_on_real_bag(tmp_path, real_bag, pooling, global_factor):
    bag = read_bag(real_bag)
    config = TrainConfig(pooling=pooling, global_factor=global_factor)
    zones = bag.meta.get("zones", {})
    checkpoint = checkpoint_for(config, patch_size=bag.patch_size, zones=zones)
    checkpoint["preprocessing"]["parameters"] = bag.preprocessing
    export_onnx(checkpoint, str(tmp_path))
    metadata = np.array(
        [58, 0, 165, 70, 25.7, 0, 1, 0, 20, 13.1, np.nan, 21.0], dtype=np.float32
    )
    differences, outputs = compare_bag(
        checkpoint,
        tmp_path,
        np.array(bag.hu),
        np.array(bag.mask),
        bag.lung_ml,
        bag.zone,
        bag.side,
        metadata,
    )
    for name, difference in differences.items():
        assert difference <= TOLERANCE, f"{name} differs by {difference} on {real_bag}"
    assert outputs["contributions"].shape == (bag.patch_count,)


def reject_constant(name):
    raise ValueError(f"model-card.json contains {name}, which JSON.parse rejects")


def test_model_card_is_strict_json(exported):
    root, _ = exported
    text = (root / "model" / "model-card.json").read_text()
    json.loads(text, parse_constant=reject_constant)


def test_export_cli(exported, tmp_path):
    root, _ = exported
    argv = [
        "--checkpoint",
        str(root / "run" / "checkpoint-best.pt"),
        "--out",
        str(tmp_path),
    ]
    assert export_main(argv) == 0
    card = json.loads((tmp_path / "model-card.json").read_text())
    assert card["modelVersion"].startswith("0.1.0+")
    assert (tmp_path / "encoder.onnx").exists()


def test_export_rejects_unsupported_opset(exported, tmp_path):
    root, _ = exported
    with pytest.raises(ValueError, match="opset 18 is not supported; use 14 to 17"):
        export_model(root / "run" / "checkpoint-best.pt", tmp_path, opset=18)


def test_card_records_exported_epoch(exported):
    _, card = exported
    assert card["training"]["exportedEpoch"] == 0
    assert card["training"]["metricsEpoch"] == 0


def test_checkpoint_other_metadata_rejected():
    from dlco_train.checkpoints import model_from_checkpoint
    from dlco_train.manifest import METADATA_FEATURES

    older = [name for name, _ in METADATA_FEATURES][:-1]
    checkpoint = {
        "config": TrainConfig().to_dict(),
        "stats": {"metadata_features": older},
        "model": {},
    }
    with pytest.raises(ValueError, match="trained on 11 metadata features") as error:
        model_from_checkpoint(checkpoint)
    assert "gli_dlco_predicted" in str(error.value)
    assert "retrain it" in str(error.value)
