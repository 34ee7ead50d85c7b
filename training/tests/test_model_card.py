"""Tests of the training-data description that the model card carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlco_train.manifest import METADATA_FEATURES, ManifestRow
from dlco_train.config import TrainConfig
from dlco_train.model_card import LIMITATIONS, limitations, summarise_training_data


def _row(scan_id: str, **columns: str) -> ManifestRow:
    return ManifestRow(
        scan_id=scan_id,
        subject_id=scan_id,
        dlco=20.0,
        metadata=np.full(len(METADATA_FEATURES), np.nan),
        split="train",
        columns={"id": scan_id, **columns},
    )


def _simulated(scan_id: str, profile: str, kernel: str, thickness: str) -> ManifestRow:
    return _row(
        scan_id,
        dlco_true_noiseless="20.1",
        scanner_profile=profile,
        kernel=kernel,
        slice_thickness_mm=thickness,
    )


def test_card_training_data_simulated_one_profile():
    rows = [_simulated(f"s{i}", "beta-thick-5.0", "standard", "5.0") for i in range(3)]
    summary = summarise_training_data(rows)
    assert summary["source"] == {
        "kind": "simulated",
        "generator": "dlco_train.simulator",
        "realPatients": False,
    }
    acquisition = summary["acquisition"]
    assert acquisition["scannerProfiles"] == ["beta-thick-5.0"]
    assert acquisition["kernels"] == ["standard"]
    assert acquisition["sliceThicknessMm"] == {"min": 5.0, "max": 5.0}
    assert acquisition["pixelSpacingMm"] == {"min": 1.6, "max": 1.6}
    assert acquisition["noiseSdHu"] == {"min": 9.0, "max": 9.0}


def test_card_training_data_profile_range():
    rows = [
        _simulated("a", "beta-thick-5.0", "standard", "5.0"),
        _simulated("b", "alpha-sharp-1.0", "sharp", "1.0"),
    ]
    acquisition = summarise_training_data(rows)["acquisition"]
    assert acquisition["scannerProfiles"] == ["alpha-sharp-1.0", "beta-thick-5.0"]
    assert acquisition["sliceThicknessMm"] == {"min": 1.0, "max": 5.0}
    assert acquisition["pixelSpacingMm"] == {"min": 1.45, "max": 1.6}


def test_card_training_data_real_background():
    rows = [_simulated("a", "real:case01", "as-acquired", "1.25")]
    summary = summarise_training_data(rows)
    assert summary["source"]["realPatients"] == "CT backgrounds only"
    assert "pixelSpacingMm" not in summary["acquisition"]


def test_card_training_data_unknown_manifest():
    assert summarise_training_data([_row("a")]) == {}


def test_card_interval_limitation_points_at_result():
    limitation = next(text for text in LIMITATIONS if "prediction interval" in text)
    assert "model.heldOutMetrics" in limitation
    card_path = Path(__file__).resolve().parents[2] / "models" / "demo" / "model-card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    assert limitation in card["limitations"]


def test_card_limitations_follow_the_config():
    additive = limitations(TrainConfig(pooling="additive", global_factor="hb+learned"))
    assert any("no fixed physiological COHb correction" in text for text in additive)
    assert not any("GLI" in text for text in additive)
    retained = limitations(
        TrainConfig(pooling="retained_fraction", global_factor="hb+cohb+learned")
    )
    assert any("1 % of DLCO per percentage point" in text for text in retained)
    assert not any("no fixed physiological COHb" in text for text in retained)
    assert any("GLI age and height range" in text for text in retained)
    assert any("pack-years" in text for text in retained)
    fixed = limitations(TrainConfig(pooling="retained_fraction", global_factor="hb+cohb"))
    assert not any("pack-years" in text for text in fixed)
