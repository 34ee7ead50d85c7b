import json

import numpy as np
import pytest

from dlco_train.baseline import (
    BASELINE_FEATURES,
    LinearBaseline,
    baseline_features,
    fit_ols,
)
from dlco_train.dataset import load_split_datasets
from dlco_train.manifest import read_manifest


def test_ols_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) * [10.0, 2.0, 500.0]
    true = np.array([-0.4, 1.5, 0.01])
    y = 12.0 + x @ true + rng.normal(0, 0.5, 400)
    coefficients, intercept, residual_sd = fit_ols(x, y)
    assert coefficients == pytest.approx(true, rel=0.03)
    assert intercept == pytest.approx(12.0, abs=0.2)
    assert residual_sd == pytest.approx(0.5, rel=0.1)


def test_ols_exact_fit_without_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 7))
    true = np.arange(1.0, 8.0)
    coefficients, intercept, _ = fit_ols(x, 3.0 + x @ true)
    assert np.allclose(coefficients, true)
    assert intercept == pytest.approx(3.0)


def test_ols_rejects_too_few_rows():
    with pytest.raises(ValueError, match="at least 4 rows for 3 features, got 3"):
        fit_ols(np.zeros((3, 3)), np.zeros(3))


def test_baseline_features_from_bag(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(
        bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2
    )
    bags, rows = groups["train"]
    vector = baseline_features(bags[0].meta, rows[0])
    assert vector.shape == (len(BASELINE_FEATURES),)
    assert np.isfinite(vector).all()
    whole = bags[0].meta["qct"]["whole"]
    assert vector[0] == whole["laa950Percent"]
    assert vector[3] == whole["meanHu"]
    assert vector[2] == pytest.approx(float(np.sum(bags[0].lung_ml)), rel=1e-4)


def test_baseline_features_missing_qct(tiny_cohort):
    _, manifest = tiny_cohort
    row = read_manifest(manifest)[0]
    for meta in ({"qct": None}, {}, {"qct": {"whole": {"laa950Percent": None}}}):
        vector = baseline_features(meta, row)
        assert np.isnan(vector[:4]).all(), meta
        assert np.isfinite(vector[4:]).all(), meta


def test_baseline_json_round_trip(tiny_cohort):
    bags_dir, manifest = tiny_cohort
    groups, _ = load_split_datasets(
        bags_dir, manifest, seed=0, val_fraction=0.2, test_fraction=0.2
    )
    baseline = LinearBaseline.fit(*groups["train"])
    exported = json.loads(json.dumps(baseline.to_json()))
    assert exported["trainingN"] == len(groups["train"][1])
    assert [f["name"] for f in exported["features"]] == [
        name for name, _, _ in BASELINE_FEATURES
    ]
    assert all("unit" in f and "coefficient" in f for f in exported["features"])
    restored = LinearBaseline.from_json(exported)
    test_bags, test_rows = groups["test"]
    assert np.allclose(
        restored.predict(test_bags, test_rows), baseline.predict(test_bags, test_rows)
    )


def test_baseline_cli(tiny_cohort, tmp_path):
    from dlco_train.baseline import main

    bags_dir, manifest = tiny_cohort
    assert (
        main(
            [
                "--bags",
                bags_dir,
                "--manifest",
                manifest,
                "--out",
                str(tmp_path / "b.json"),
            ]
        )
        == 0
    )
    written = json.loads((tmp_path / "b.json").read_text())
    assert written["metrics"]["test"]["n"] > 0
