import csv

import numpy as np
import pytest
import torch

from dlco_train.dataset import (
    METADATA_INDEX,
    BagDataset,
    MetadataStats,
    assign_splits,
    collate_bags,
    load_split_datasets,
    read_manifest,
)


def write_manifest(path, rows, columns=("id", "dlco", "age", "sex", "smoking", "split")):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_read_manifest_encodes_metadata(tiny_cohort):
    _, manifest = tiny_cohort
    rows = read_manifest(manifest)
    assert len(rows) == 16
    first = rows[0]
    assert first.subject_id == first.scan_id
    assert first.metadata[METADATA_INDEX["sex_male"]] in (0.0, 1.0)
    smoking = first.metadata[[METADATA_INDEX[f"smoking_{s}"] for s in ("never", "former", "current")]]
    assert smoking.sum() == 1.0
    height_m = first.metadata[METADATA_INDEX["height_cm"]] / 100
    bmi = first.metadata[METADATA_INDEX["weight_kg"]] / height_m**2
    assert first.metadata[METADATA_INDEX["bmi"]] == pytest.approx(bmi)


def test_read_manifest_missing_values_are_nan(tmp_path):
    path = write_manifest(tmp_path / "m.csv", [{"id": "a", "dlco": "20", "age": "", "sex": "", "smoking": "", "split": ""}])
    (row,) = read_manifest(path)
    assert np.isnan(row.metadata).all()


@pytest.mark.parametrize(
    "cells, message",
    [
        ({"dlco": "-1"}, "dlco must be a positive number"),
        ({"dlco": "abc"}, "dlco 'abc' is not a number"),
        ({"sex": "x"}, "sex 'x' is not one of"),
        ({"smoking": "sometimes"}, "smoking 'sometimes' is not one of"),
        ({"split": "holdout"}, "split 'holdout' is not one of"),
    ],
)
def test_read_manifest_invalid_values(tmp_path, cells, message):
    row = {"id": "a", "dlco": "20", "age": "50", "sex": "M", "smoking": "never", "split": "train"}
    row.update(cells)
    path = write_manifest(tmp_path / "m.csv", [row])
    with pytest.raises(ValueError, match=message):
        read_manifest(path)


def test_read_manifest_duplicate_id(tmp_path):
    rows = [{"id": "a", "dlco": "20"}, {"id": "a", "dlco": "21"}]
    path = write_manifest(tmp_path / "m.csv", rows, columns=("id", "dlco"))
    with pytest.raises(ValueError, match="appears more than once"):
        read_manifest(path)


def test_seeded_split_keeps_subjects_together(tmp_path):
    rows = [{"id": f"s{i}-scan{j}", "subject_id": f"s{i}", "dlco": "20"} for i in range(40) for j in range(2)]
    path = write_manifest(tmp_path / "m.csv", rows, columns=("id", "subject_id", "dlco"))
    manifest = read_manifest(path)
    splits = assign_splits(manifest, seed=7, val_fraction=0.2, test_fraction=0.2)
    for i in range(40):
        assert splits[f"s{i}-scan0"] == splits[f"s{i}-scan1"]
    assert set(splits.values()) == {"train", "val", "test"}
    assert splits == assign_splits(manifest, seed=7, val_fraction=0.2, test_fraction=0.2)
    assert splits != assign_splits(manifest, seed=8, val_fraction=0.2, test_fraction=0.2)


def test_manifest_split_column_wins(tiny_cohort):
    _, manifest = tiny_cohort
    rows = read_manifest(manifest)
    splits = assign_splits(rows, seed=0, val_fraction=0.5, test_fraction=0.4)
    assert splits == {row.scan_id: row.split for row in rows}


def test_partial_split_column_rejected(tmp_path):
    rows = [{"id": "a", "dlco": "20", "split": "train"}, {"id": "b", "dlco": "20", "split": ""}]
    path = write_manifest(tmp_path / "m.csv", rows, columns=("id", "dlco", "split"))
    with pytest.raises(ValueError, match="1 of 2 manifest rows have a split"):
        assign_splits(read_manifest(path), 0, 0.2, 0.2)


def test_missing_bag_rejected(tiny_cohort, tmp_path):
    bags_dir, manifest = tiny_cohort
    with open(manifest) as f:
        text = f.read()
    extended = tmp_path / "m.csv"
    extended.write_text(text + "ghost,20,50,M,170,70,never,0,14,train\n")
    with pytest.raises(ValueError, match="1 manifest id\\(s\\) have no bag folder"):
        load_split_datasets(bags_dir, extended, seed=0, val_fraction=0.2, test_fraction=0.2)
    groups, _ = load_split_datasets(
        bags_dir, extended, seed=0, val_fraction=0.2, test_fraction=0.2, skip_missing_bags=True
    )
    assert sum(len(rows) for _, rows in groups.values()) == 16


def test_metadata_stats_ignore_nan():
    stats = MetadataStats.fit([np.array([1.0, np.nan, 5.0]), np.array([3.0, np.nan, 5.0])])
    assert stats.mean.tolist() == [2.0, 0.0, 5.0]
    assert stats.std.tolist() == [1.0, 1.0, 1.0]


def test_sampling_rescales_volume(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2)
    bags, rows = groups["train"]
    dataset = BagDataset(bags, rows, patches_per_bag=4, seed=1)
    item = dataset[0]
    assert item["hu"].shape[0] == 4
    total = float(np.sum(bags[0].lung_ml))
    assert item["volume_scale"] * float(item["lung_ml"].sum()) == pytest.approx(total, rel=1e-5)


def test_sampling_depends_on_epoch(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2)
    dataset = BagDataset(*groups["train"], patches_per_bag=4, seed=1)
    first = dataset[0]["hu"]
    assert torch.equal(first, dataset[0]["hu"])
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[0]["hu"])


def test_collate_concatenates_patches(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2)
    dataset = BagDataset(*groups["train"], patches_per_bag=None)
    batch = collate_bags([dataset[0], dataset[1]])
    assert batch.counts == [bags.patch_count for bags in groups["train"][0][:2]]
    assert batch.hu.shape[0] == sum(batch.counts)
    assert batch.metadata.shape == (2, len(METADATA_INDEX))
    assert batch.volume_scale.tolist() == [1.0, 1.0]
