import csv
import math
import os

import numpy as np
import pytest
import torch

from dlco_train.bags import preprocess_params_hash, read_bag
from dlco_train.gradcam import gradcam_bag, main, read_metadata_manifest
from dlco_train.model import build_model
from dlco_train.testing import synthetic_params

STATS = {
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


def random_model(config, seed=0):
    """Build a model with random weights, so gradients differ between patches."""
    torch.manual_seed(seed)
    model = build_model(config, STATS)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model.eval()


def first_bag(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    scan_id, metadata = read_metadata_manifest(manifest)[0]
    return scan_id, read_bag(os.path.join(bags_dir, scan_id)), metadata


def scaled_estimate(model, bag, metadata, patch, factor):
    """Return the estimate with one patch's last-stage activations times ``factor``."""

    def scale(_module, _inputs, output):
        output = output.clone()
        output[patch] = output[patch] * factor
        return output

    handle = model.encoder.features.register_forward_hook(scale)
    try:
        with torch.no_grad():
            embeddings = model.encoder(
                torch.from_numpy(np.array(bag.hu)), torch.from_numpy(np.array(bag.mask))
            )
            outputs = model.aggregate(
                embeddings,
                torch.from_numpy(np.asarray(bag.lung_ml, dtype=np.float32)),
                torch.from_numpy(np.asarray(bag.zone)),
                torch.from_numpy(np.asarray(bag.side)),
                [bag.patch_count],
                torch.from_numpy(metadata.astype(np.float32)).reshape(1, -1),
            )
    finally:
        handle.remove()
    return float(outputs["dlco"][0])


@pytest.mark.parametrize("pooling", ["additive", "attention"])
def test_signed_value_matches_finite_difference(tiny_cohort, make_config, pooling):
    torch.set_num_threads(1)
    model = random_model(make_config(pooling=pooling, encoder_density_features=True))
    _, bag, metadata = first_bag(tiny_cohort)
    result = gradcam_bag(model, bag, metadata)
    last_stage_voxels = (bag.patch_size // 2) ** 3  # two stages, one 2x pooling
    epsilon = 0.02
    checked = 0
    for patch in range(0, bag.patch_count, 3):
        up = scaled_estimate(model, bag, metadata, patch, 1 + epsilon)
        down = scaled_estimate(model, bag, metadata, patch, 1 - epsilon)
        # d(-dlco)/d(scale) at scale 1, by central differences.
        drop = -(up - down) / (2 * epsilon)
        assert result.signed[patch] * last_stage_voxels == pytest.approx(
            drop, rel=2e-2, abs=1e-8
        )
        checked += 1
    assert checked >= 3
    assert np.ptp(result.signed) > 0


def test_values_nonnegative_above_signed(tiny_cohort, make_config):
    model = random_model(make_config(), seed=1)
    _, bag, metadata = first_bag(tiny_cohort)
    result = gradcam_bag(model, bag, metadata)
    assert result.values.shape == (bag.patch_count,)
    assert np.all(result.values >= 0)
    # mean(relu(x)) >= mean(x), with equality where the map has one sign.
    assert np.all(result.values >= np.maximum(result.signed, 0) - 1e-12)
    assert result.values.max() > 0


def test_additive_values_ignore_other_patches(tiny_cohort, make_config):
    # With additive pooling, patch n's contribution depends on patch n only, so its
    # Grad-CAM is the same in the whole bag and in a bag of a few of its patches. A
    # mix-up of patch order would break this.
    model = random_model(make_config(pooling="additive"), seed=2)
    _, bag, metadata = first_bag(tiny_cohort)
    whole = gradcam_bag(model, bag, metadata)
    keep = np.array([bag.patch_count - 1, 0, 2])
    subset = read_bag(bag.path, mmap=False)
    for name in ("hu", "mask", "lung_ml", "zone", "side", "centers_mm", "corner_ijk"):
        setattr(subset, name, getattr(subset, name)[keep])
    part = gradcam_bag(model, subset, metadata)
    np.testing.assert_allclose(part.signed, whole.signed[keep], rtol=1e-4, atol=1e-9)
    assert len(set(np.round(whole.signed[keep], 9))) == 3


def checkpoint_file(tmp_path, make_config, bags_dir, scan_id):
    config = make_config()
    model = random_model(config, seed=3)
    bag = read_bag(os.path.join(bags_dir, scan_id))
    path = tmp_path / "checkpoint.pt"
    torch.save(
        {
            "config": config.to_dict(),
            "stats": STATS,
            "model": model.state_dict(),
            "preprocessing": {"hash": bag.preprocessing_hash},
        },
        path,
    )
    return path, model


def test_command_writes_row_per_patch(tiny_cohort, make_config, tmp_path):
    bags_dir, manifest = tiny_cohort
    rows = read_metadata_manifest(manifest)[:3]
    small_manifest = tmp_path / "manifest.csv"
    with open(manifest, newline="", encoding="utf-8") as f:
        lines = f.read().splitlines()
    small_manifest.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    checkpoint, model = checkpoint_file(tmp_path, make_config, bags_dir, rows[0][0])
    out = tmp_path / "out" / "gradcam.csv"

    status = main(
        [
            "--checkpoint", str(checkpoint), "--bags", bags_dir,
            "--manifest", str(small_manifest), "--out", str(out), "--signed",
        ]
    )

    assert status == 0
    with open(out, newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == ["id", "patch_index", "value", "signed"]
    for scan_id, metadata in rows:
        bag = read_bag(os.path.join(bags_dir, scan_id))
        mine = [row for row in written if row["id"] == scan_id]
        assert [int(row["patch_index"]) for row in mine] == list(range(bag.patch_count))
        expected = gradcam_bag(model, bag, metadata).values
        np.testing.assert_allclose(
            [float(row["value"]) for row in mine], expected, rtol=1e-6, atol=1e-12
        )


def test_command_rejects_bad_bags(
    tiny_cohort, make_config, tmp_path, caplog
):
    bags_dir, manifest = tiny_cohort
    scan_id = read_metadata_manifest(manifest)[0][0]
    checkpoint, _ = checkpoint_file(tmp_path, make_config, bags_dir, scan_id)
    out = tmp_path / "gradcam.csv"

    missing_manifest = tmp_path / "missing.csv"
    missing_manifest.write_text("id,age\nno-such-scan,50\n", encoding="utf-8")
    args = ["--checkpoint", str(checkpoint), "--bags", bags_dir, "--out", str(out)]
    assert main(args + ["--manifest", str(missing_manifest)]) == 2
    assert "no-such-scan" in caplog.text
    assert "dlco preprocess" in caplog.text
    assert not out.exists()

    state = torch.load(checkpoint, weights_only=False)
    other = dict(synthetic_params(), patchSizeVoxels=16)
    state["preprocessing"]["hash"] = preprocess_params_hash(other)
    torch.save(state, checkpoint)
    assert main(args + ["--manifest", manifest]) == 2
    assert "preprocessingHash" in caplog.text
    assert not out.exists()
