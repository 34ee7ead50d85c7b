import numpy as np
import pytest
import torch

from dlco_train.dataset import BagDataset, collate_bags, load_split_datasets
from dlco_train.manifest import METADATA_INDEX
from dlco_train.testing import write_bag


def test_missing_bag_rejected(tiny_cohort, tmp_path):
    bags_dir, manifest = tiny_cohort
    with open(manifest) as f:
        text = f.read()
    extended = tmp_path / "m.csv"
    extended.write_text(text + "ghost,20,50,M,170,70,never,0,14,1.5,train\n")
    with pytest.raises(ValueError, match="1 manifest id\\(s\\) have no bag folder"):
        load_split_datasets(
            bags_dir, extended, seed=0, val_fraction=0.2, test_fraction=0.2
        )
    groups, _ = load_split_datasets(
        bags_dir,
        extended,
        seed=0,
        val_fraction=0.2,
        test_fraction=0.2,
        skip_missing_bags=True,
    )
    assert sum(len(rows) for _, rows in groups.values()) == 16


def test_sampling_rescales_volume(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(
        bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2
    )
    bags, rows = groups["train"]
    dataset = BagDataset(bags, rows, patches_per_bag=4, seed=1)
    item = dataset[0]
    assert item["hu"].shape[0] == 4
    total = float(np.sum(bags[0].lung_ml))
    assert item["volume_scale"] * float(item["lung_ml"].sum()) == pytest.approx(
        total, rel=1e-5
    )


def test_sampling_depends_on_epoch(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(
        bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2
    )
    dataset = BagDataset(*groups["train"], patches_per_bag=4, seed=1)
    first = dataset[0]["hu"]
    assert torch.equal(first, dataset[0]["hu"])
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[0]["hu"])


def test_collate_concatenates_patches(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(
        bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2
    )
    dataset = BagDataset(*groups["train"], patches_per_bag=None)
    batch = collate_bags([dataset[0], dataset[1]])
    assert batch.counts == [bags.patch_count for bags in groups["train"][0][:2]]
    assert batch.hu.shape[0] == sum(batch.counts)
    assert batch.metadata.shape == (2, len(METADATA_INDEX))
    assert batch.volume_scale.tolist() == [1.0, 1.0]


def test_empty_bag_rejected(tmp_path):
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
    write_bag(tmp_path / "bags" / "a", arrays, qct={})
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,dlco,split\na,20,train\n")
    with pytest.raises(
        ValueError, match="1 bag\\(s\\) have no lung patches, e.g. \\['a'\\]"
    ):
        load_split_datasets(
            tmp_path / "bags", manifest, seed=0, val_fraction=0, test_fraction=0
        )
