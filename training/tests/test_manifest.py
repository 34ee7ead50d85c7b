import csv

import numpy as np
import pytest

from dlco_train.manifest import (
    METADATA_INDEX,
    MetadataStats,
    assign_splits,
    read_manifest,
)


def write_manifest(
    path, rows, columns=("id", "dlco", "age", "sex", "smoking", "split")
):
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
    smoking = first.metadata[
        [METADATA_INDEX[f"smoking_{s}"] for s in ("never", "former", "current")]
    ]
    assert smoking.sum() == 1.0
    height_m = first.metadata[METADATA_INDEX["height_cm"]] / 100
    bmi = first.metadata[METADATA_INDEX["weight_kg"]] / height_m**2
    assert first.metadata[METADATA_INDEX["bmi"]] == pytest.approx(bmi)


def test_read_manifest_missing_values_are_nan(tmp_path):
    path = write_manifest(
        tmp_path / "m.csv",
        [{"id": "a", "dlco": "20", "age": "", "sex": "", "smoking": "", "split": ""}],
    )
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
        ({"age": "-3"}, "age -3.0 is outside the plausible range"),
    ],
)
def test_read_manifest_invalid_values(tmp_path, cells, message):
    row = {
        "id": "a",
        "dlco": "20",
        "age": "50",
        "sex": "M",
        "smoking": "never",
        "split": "train",
    }
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
    rows = [
        {"id": f"s{i}-scan{j}", "subject_id": f"s{i}", "dlco": "20"}
        for i in range(40)
        for j in range(2)
    ]
    path = write_manifest(
        tmp_path / "m.csv", rows, columns=("id", "subject_id", "dlco")
    )
    manifest = read_manifest(path)
    splits = assign_splits(manifest, seed=7, val_fraction=0.2, test_fraction=0.2)
    for i in range(40):
        assert splits[f"s{i}-scan0"] == splits[f"s{i}-scan1"]
    assert set(splits.values()) == {"train", "val", "test"}
    assert splits == assign_splits(
        manifest, seed=7, val_fraction=0.2, test_fraction=0.2
    )
    assert splits != assign_splits(
        manifest, seed=8, val_fraction=0.2, test_fraction=0.2
    )


def test_manifest_split_column_wins(tiny_cohort):
    _, manifest = tiny_cohort
    rows = read_manifest(manifest)
    splits = assign_splits(rows, seed=0, val_fraction=0.5, test_fraction=0.4)
    assert splits == {row.scan_id: row.split for row in rows}


def test_partial_split_column_rejected(tmp_path):
    rows = [
        {"id": "a", "dlco": "20", "split": "train"},
        {"id": "b", "dlco": "20", "split": ""},
    ]
    path = write_manifest(tmp_path / "m.csv", rows, columns=("id", "dlco", "split"))
    with pytest.raises(ValueError, match="1 of 2 manifest rows have a split"):
        assign_splits(read_manifest(path), 0, 0.2, 0.2)


def test_metadata_stats_ignore_nan():
    stats = MetadataStats.fit(
        [np.array([1.0, np.nan, 5.0]), np.array([3.0, np.nan, 5.0])]
    )
    assert stats.mean.tolist() == [2.0, 0.0, 5.0]
    assert stats.std.tolist() == [1.0, 1.0, 1.0]
