import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dlco_train.manifest import (
    METADATA_INDEX,
    MetadataStats,
    assign_splits,
    encode_metadata,
    gli_predicted_dlco,
    read_manifest,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GLI_TABLE = REPO_ROOT / "libs/reference/data/gli-2017-tlco.json"


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


def gli_median_from_table(age, sex, height_cm):
    """GLI 2017 median exp(a0 + a1 ln h + a2 ln age + Mspline(age)), from the JSON."""
    table = json.loads(GLI_TABLE.read_text())
    entry = table["sexes"][sex]
    spline = np.interp(age, table["splineAgesYears"], entry["splines"]["mSpline"])
    a = entry["coefficients"]
    return math.exp(
        a["a0"] + a["a1"] * math.log(height_cm) + a["a2"] * math.log(age) + spline
    )


def test_gli_documented_example():
    # libs/reference documents gliDlco({ageYears: 50, sex: 'M', heightCm: 175}) as
    # about 28.43 ml/min/mmHg.
    assert gli_predicted_dlco(50.0, 1.0, 175.0) == pytest.approx(28.43, abs=0.005)


@pytest.mark.parametrize(
    "age, sex_male, height_cm",
    [(60.0, 0.0, 162.0), (50.1, 1.0, 175.0), (8.3, 0.0, 128.0), (85.0, 1.0, 230.0)],
)
def test_gli_matches_table(age, sex_male, height_cm):
    sex = "M" if sex_male else "F"
    assert gli_predicted_dlco(age, sex_male, height_cm) == pytest.approx(
        gli_median_from_table(age, sex, height_cm), rel=1e-9
    )


def test_gli_women_lower_than_men():
    assert gli_predicted_dlco(50.0, 0.0, 175.0) < gli_predicted_dlco(50.0, 1.0, 175.0)


@pytest.mark.parametrize(
    "age, sex_male, height_cm",
    [
        (math.nan, 1.0, 175.0),
        (50.0, math.nan, 175.0),
        (50.0, 1.0, math.nan),
        (4.9, 1.0, 120.0),
        (85.5, 1.0, 175.0),
        (50.0, 0.0, 89.0),
        (50.0, 0.0, 231.0),
        (50.0, 1.0, math.inf),
    ],
)
def test_gli_missing_or_out_of_range_is_nan(age, sex_male, height_cm):
    assert math.isnan(gli_predicted_dlco(age, sex_male, height_cm))


def test_encode_metadata_fills_gli():
    index = METADATA_INDEX["gli_dlco_predicted"]
    male = encode_metadata({"age": "50", "sex": "M", "height_cm": "175"})
    female = encode_metadata({"age": "60", "sex": "female", "height_cm": "162"})
    assert male[index] == pytest.approx(28.43, abs=0.005)
    assert female[index] == pytest.approx(
        gli_median_from_table(60.0, "F", 162.0), rel=1e-9
    )


@pytest.mark.parametrize(
    "columns",
    [
        {"age": "50", "sex": "M"},
        {"age": "50", "height_cm": "175"},
        {"sex": "M", "height_cm": "175"},
        {"age": "90", "sex": "M", "height_cm": "175"},
    ],
)
def test_encode_metadata_gli_nan_without_inputs(columns):
    vector = encode_metadata(columns)
    assert math.isnan(vector[METADATA_INDEX["gli_dlco_predicted"]])


def test_read_manifest_fills_gli(tiny_cohort):
    _, manifest = tiny_cohort
    for row in read_manifest(manifest):
        age = row.metadata[METADATA_INDEX["age"]]
        sex = "M" if row.metadata[METADATA_INDEX["sex_male"]] == 1.0 else "F"
        height = row.metadata[METADATA_INDEX["height_cm"]]
        assert row.metadata[METADATA_INDEX["gli_dlco_predicted"]] == pytest.approx(
            gli_median_from_table(age, sex, height), rel=1e-9
        )
