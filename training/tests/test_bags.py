import json
import os

import numpy as np
import pytest

from dlco_train.bags import BagFormatError, preprocess_params_hash, read_bag
from dlco_train.testing import synthetic_params, write_bag, write_synthetic_bag

# Computed with preprocessParamsHash in libs/preprocess/src/lib/params.ts (Node 20).
TS_DEFAULT_HASH = "1b37069aff7b7fc263fa670d7606a6b6f52edb2f8dde6341ed8f61f0987c975c"
TS_ODD_PARAMS = {
    "workingSpacingMm": 1.5,
    "patchSizeVoxels": 16,
    "patchStrideVoxels": 16,
    "minLungFraction": 0.125,
    "rindDepthMm": 1e-7,
}
TS_ODD_HASH = "2edab831f492caa88f32fda888c32c90ade48c64957df6b79b5b4f0bc6874676"


@pytest.fixture
def bag_dir(tmp_path):
    folder, _ = write_synthetic_bag(
        tmp_path / "scan", np.random.default_rng(0), patch_count=5, patch_size=8
    )
    return folder


def test_read_bag_round_trip(bag_dir):
    bag = read_bag(bag_dir)
    assert bag.patch_count == 5
    assert bag.patch_size == 8
    assert bag.hu.dtype == np.int16
    assert bag.hu.shape == (5, 8, 8, 8)
    assert bag.mask.dtype == np.uint8
    assert bag.centers_mm.shape == (5, 3)
    assert bag.corner_ijk.dtype == np.int32
    assert bag.lung_ml.shape == (5,)
    assert bag.format_version == 1
    assert bag.preprocessing["patchSizeVoxels"] == 8


def test_read_bag_unknown_format_version(bag_dir):
    path = os.path.join(bag_dir, "bag.json")
    with open(path) as f:
        meta = json.load(f)
    meta["formatVersion"] = 2
    with open(path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(BagFormatError, match="formatVersion 2 is not supported"):
        read_bag(bag_dir)


def test_read_bag_hash_mismatch(bag_dir):
    with pytest.raises(BagFormatError, match="differs from the model's"):
        read_bag(bag_dir, expected_hash="0" * 64)


def test_read_bag_expected_hash_accepted(bag_dir):
    expected = preprocess_params_hash(synthetic_params(8))
    assert read_bag(bag_dir, expected_hash=expected).preprocessing_hash == expected


def test_read_bag_wrong_dtype(bag_dir):
    np.save(os.path.join(bag_dir, "lung_ml.npy"), np.zeros(5, dtype=np.float64))
    with pytest.raises(BagFormatError, match="dtype <f8, expected <f4"):
        read_bag(bag_dir)


def test_read_bag_wrong_patch_count(bag_dir):
    np.save(os.path.join(bag_dir, "zone.npy"), np.zeros(4, dtype=np.uint8))
    with pytest.raises(BagFormatError, match="zone.npy has shape"):
        read_bag(bag_dir)


def test_read_bag_missing_file(bag_dir):
    os.remove(os.path.join(bag_dir, "side.npy"))
    with pytest.raises(BagFormatError, match="side.npy not found"):
        read_bag(bag_dir)


def test_read_bag_not_a_bag(tmp_path):
    with pytest.raises(BagFormatError, match="bag.json not found"):
        read_bag(tmp_path)


def test_read_bag_empty_bag(tmp_path):
    arrays = {
        "hu": np.zeros((0, 4, 4, 4)),
        "mask": np.zeros((0, 4, 4, 4)),
        "centers_mm": np.zeros((0, 3)),
        "corner_ijk": np.zeros((0, 3)),
        "lung_ml": np.zeros(0),
        "zone": np.zeros(0),
        "side": np.zeros(0),
        "rind_fraction": np.zeros(0),
    }
    write_bag(tmp_path / "empty", arrays, qct={})
    assert read_bag(tmp_path / "empty").patch_count == 0


def test_params_hash_matches_typescript_defaults():
    defaults = synthetic_params(16)
    assert preprocess_params_hash(defaults) == TS_DEFAULT_HASH


def test_params_hash_matches_typescript_number_format():
    assert preprocess_params_hash(TS_ODD_PARAMS) == TS_ODD_HASH


def test_params_hash_ignores_key_order():
    reversed_params = dict(reversed(list(TS_ODD_PARAMS.items())))
    assert preprocess_params_hash(reversed_params) == TS_ODD_HASH
