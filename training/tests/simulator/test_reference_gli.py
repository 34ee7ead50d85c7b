"""GLI 2017 predicted DLCO and the Cotes haemoglobin factor."""

from __future__ import annotations

import json

import pytest

from dlco_train.simulator.reference import (
    GliDlcoTable,
    cotes_hb_factor,
    default_gli_table_path,
    load_gli_table,
)


@pytest.mark.parametrize(
    "age, sex, height, expected",
    [(50.0, "M", 175.0, 28.43), (50.0, "F", 163.0, 20.71)],
)
def test_predicted_matches_check_values(gli_table, age, sex, height, expected):
    assert gli_table.predicted_dlco(age, sex, height) == pytest.approx(
        expected, abs=0.005
    )


def test_spline_interpolates_between_rows(gli_table):
    low = gli_table.predicted_dlco(50.0, "M", 175.0)
    high = gli_table.predicted_dlco(50.25, "M", 175.0)
    middle = gli_table.predicted_dlco(50.125, "M", 175.0)
    assert min(low, high) <= middle <= max(low, high)


@pytest.mark.parametrize(
    "age, sex, height, message",
    [
        (90.0, "M", 175.0, "age_years 90.0"),
        (50.0, "M", 1.75, "height_cm 1.75"),
        (50.0, "X", 175.0, "sex must be"),
    ],
)
def test_out_of_range_rejected(gli_table, age, sex, height, message):
    with pytest.raises(ValueError, match=message):
        gli_table.predicted_dlco(age, sex, height)


def test_missing_table_names_generator(tmp_path):
    with pytest.raises(FileNotFoundError, match="generate-gli-tlco.py"):
        load_gli_table(tmp_path / "absent.json")


def test_malformed_table_rejected(tmp_path):
    table = json.loads(default_gli_table_path().read_text())
    del table["validity"]
    with pytest.raises(ValueError, match="validity"):
        GliDlcoTable(table)


@pytest.mark.parametrize("sex, standard", [("M", 14.6), ("F", 13.4)])
def test_cotes_factor_is_one_at_standard_hb(sex, standard):
    assert cotes_hb_factor(standard, sex) == pytest.approx(1.0, abs=1e-4)


def test_cotes_factor_for_anaemia():
    assert cotes_hb_factor(10.0, "M") == pytest.approx(0.8408, abs=1e-4)
    assert cotes_hb_factor(10.0, "F") == pytest.approx(0.8772, abs=1e-4)
    with pytest.raises(ValueError, match="must be positive"):
        cotes_hb_factor(0.0, "M")
