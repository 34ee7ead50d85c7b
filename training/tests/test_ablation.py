import csv

import pytest

from dlco_train.ablation import VARIANTS, run_ablation


def test_ablation_writes_tables(tiny_cohort, make_config, tmp_path):
    config = make_config(epochs=1, encoder_channels=[4], embedding_dim=4, hidden_dim=4)
    rows = run_ablation(config, *tiny_cohort, str(tmp_path), device="cpu")
    assert [row["variant"] for row in rows] == list(VARIANTS) + ["linear_baseline"]
    with open(tmp_path / "ablation.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert all(row["split"] == "test" for row in table)
    assert all(float(row["mae"]) > 0 for row in table)
    markdown = (tmp_path / "ablation.md").read_text()
    assert "| image_metadata_aux | test |" in markdown
    for name in VARIANTS:
        assert (tmp_path / name / "metrics.json").exists()


def test_ablation_unknown_variant(tiny_cohort, make_config, tmp_path):
    with pytest.raises(
        ValueError, match="unknown ablation variant\\(s\\) \\['text_only'\\]"
    ):
        run_ablation(make_config(), *tiny_cohort, str(tmp_path), variants=["text_only"])
