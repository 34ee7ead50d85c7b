import csv
import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch

from dlco_train.dataset import BagDataset, collate_bags, load_split_datasets
from dlco_train.losses import compute_loss
from dlco_train.manifest import gli_predicted_dlco
from dlco_train.model import build_model
from dlco_train.summaries import derive_model_stats
from dlco_train.train import CHECKPOINT_LAST, load_checkpoint, main, run_training

TRAINING_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def state_dicts_equal(first, second):
    return first.keys() == second.keys() and all(
        torch.equal(first[k], second[k]) for k in first
    )


@pytest.fixture(scope="module")
def reference_run(tiny_cohort, make_config, tmp_path_factory):
    """A two-epoch run that other tests compare against."""
    out = tmp_path_factory.mktemp("reference-run")
    metrics = run_training(make_config(), *tiny_cohort, out, device="cpu")
    return out, metrics


@pytest.mark.parametrize("pooling", ["additive", "attention"])
def test_loss_decreases_on_one_batch(tiny_cohort, make_config, pooling):
    config = make_config(
        pooling=pooling, aux_loss_weights={"age": 0.1, "sex": 0.1, "bmi": 0.1}
    )
    groups, _ = load_split_datasets(
        *tiny_cohort, seed=0, val_fraction=0.2, test_fraction=0.2
    )
    stats = derive_model_stats(*groups["train"], groups["train"][0])
    torch.manual_seed(0)
    model = build_model(config, stats)
    batch = collate_bags(
        [BagDataset(*groups["train"], patches_per_bag=6)[i] for i in range(4)]
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step():
        outputs = model(
            batch.hu,
            batch.mask,
            batch.lung_ml,
            batch.zone,
            batch.side,
            batch.counts,
            batch.metadata,
            batch.volume_scale,
        )
        loss, parts = compute_loss(outputs, batch, config, stats)
        return loss, parts

    initial, parts = step()
    assert set(parts) == {"main", "aux_age", "aux_sex", "aux_bmi"}
    for _ in range(25):
        loss, _ = step()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    final, _ = step()
    assert float(final) < float(initial)


def test_run_writes_outputs(reference_run):
    out, metrics = reference_run
    for name in (
        "config.json",
        "seed.txt",
        "run.json",
        "checkpoint-last.pt",
        "checkpoint-best.pt",
        "learning-curves.csv",
        "metrics.json",
        "predictions.csv",
        "baseline.json",
        "cohort.json",
        "reference-patch-hu.npy",
        "reference-patch.json",
    ):
        assert (out / name).exists(), name
    with open(out / "learning-curves.csv") as f:
        curves = list(csv.DictReader(f))
    assert [row["epoch"] for row in curves] == ["0", "1"]
    assert float(curves[0]["val_mae"]) > 0
    assert (out / "seed.txt").read_text().strip() == "0"
    assert json.loads((out / "config.json").read_text())["seed"] == 0
    assert "coverage95" in metrics["test"]["model"]
    assert "baseline" in metrics["test"]


def test_resume_matches_uninterrupted_run(
    tiny_cohort, make_config, reference_run, tmp_path
):
    out, _ = reference_run
    run_training(make_config(epochs=1), *tiny_cohort, tmp_path, device="cpu")
    run_training(
        make_config(epochs=2), *tiny_cohort, tmp_path, resume=True, device="cpu"
    )
    resumed = load_checkpoint(tmp_path / CHECKPOINT_LAST)
    uninterrupted = load_checkpoint(out / CHECKPOINT_LAST)
    assert resumed["epoch"] == 1
    assert state_dicts_equal(resumed["model"], uninterrupted["model"])
    assert (
        resumed["history"][1]["train_loss"] == uninterrupted["history"][1]["train_loss"]
    )


def test_resume_rejects_changed_config(tiny_cohort, make_config, reference_run):
    out, _ = reference_run
    with pytest.raises(ValueError, match="config differs in \\['learning_rate'\\]"):
        run_training(
            make_config(learning_rate=0.5), *tiny_cohort, out, resume=True, device="cpu"
        )


def test_existing_run_needs_resume(tiny_cohort, make_config, reference_run):
    out, _ = reference_run
    with pytest.raises(ValueError, match="pass --resume"):
        run_training(make_config(), *tiny_cohort, out, device="cpu")


def test_same_seed_same_weights(tiny_cohort, make_config, reference_run, tmp_path):
    out, _ = reference_run
    run_training(make_config(), *tiny_cohort, tmp_path / "again", device="cpu")
    run_training(make_config(seed=1), *tiny_cohort, tmp_path / "other", device="cpu")
    reference = load_checkpoint(out / CHECKPOINT_LAST)["model"]
    again = load_checkpoint(tmp_path / "again" / CHECKPOINT_LAST)["model"]
    other = load_checkpoint(tmp_path / "other" / CHECKPOINT_LAST)["model"]
    assert state_dicts_equal(reference, again)
    assert not state_dicts_equal(reference, other)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_with_gloo_world_size_one(tiny_cohort, tmp_path):
    bags, manifest = tiny_cohort
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "encoder_channels": [4],
                "embedding_dim": 4,
                "hidden_dim": 4,
                "patches_per_bag": 4,
                "epochs": 1,
                "num_threads": 1,
            }
        )
    )
    env = dict(
        os.environ,
        WORLD_SIZE="1",
        RANK="0",
        LOCAL_RANK="0",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(free_port()),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlco_train.train",
            "--config",
            str(config),
            "--bags",
            bags,
            "--manifest",
            manifest,
            "--out",
            str(tmp_path / "run"),
            "--seed",
            "5",
            "--device",
            "cpu",
        ],
        cwd=TRAINING_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "joined process group: rank 0 of 1, backend gloo" in result.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["worldSize"] == 1
    assert (tmp_path / "run" / "seed.txt").read_text().strip() == "5"


def test_cli_reports_invalid_config(tiny_cohort, tmp_path, caplog):
    bags, manifest = tiny_cohort
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"pooling": "max"}))
    argv = [
        "--config",
        str(config),
        "--bags",
        bags,
        "--manifest",
        manifest,
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 2
    expected = (
        "pooling 'max' is not one of ['additive', 'attention', 'retained_fraction']"
    )
    assert expected in caplog.text


def test_validate_every_skips_epochs(tiny_cohort, make_config, tmp_path):
    config = make_config(epochs=3, validate_every=2)
    metrics = run_training(config, *tiny_cohort, tmp_path, device="cpu")
    with open(tmp_path / "learning-curves.csv") as f:
        val_mae = [row["val_mae"] for row in csv.DictReader(f)]
    assert val_mae[0] == ""
    assert float(val_mae[1]) > 0
    # The last epoch is always validated.
    assert float(val_mae[2]) > 0
    assert metrics["bestEpoch"] in (1, 2)


def test_resume_accepts_checkpoint_without_new_field(
    tiny_cohort, make_config, tmp_path
):
    run_training(make_config(epochs=1), *tiny_cohort, tmp_path, device="cpu")
    last = tmp_path / CHECKPOINT_LAST
    checkpoint = load_checkpoint(last)
    del checkpoint["config"]["validate_every"]
    torch.save(checkpoint, last)
    run_training(
        make_config(epochs=2), *tiny_cohort, tmp_path, resume=True, device="cpu"
    )
    assert load_checkpoint(last)["epoch"] == 1


def test_retained_fraction_initial_estimate(tiny_cohort, make_config, tmp_path):
    # At the initial weights (a learning rate of 0 keeps them), every patch retains
    # sigmoid(3) of its share and the perfusion term is 0, so the estimate is
    # GLI x Cotes Hb factor x COHb factor x sigmoid(3).
    config = make_config(
        epochs=1,
        learning_rate=0.0,
        pooling="retained_fraction",
        global_factor="hb+cohb",
    )
    run_training(config, *tiny_cohort, tmp_path, device="cpu")
    with open(tiny_cohort[1], newline="") as f:
        subjects = {row["id"]: row for row in csv.DictReader(f)}
    with open(tmp_path / "predictions.csv", newline="") as f:
        predictions = list(csv.DictReader(f))
    assert len(predictions) >= 4
    for prediction in predictions:
        subject = subjects[prediction["id"]]
        male = subject["sex"] == "M"
        hb = float(subject["hb_g_dl"])
        cohb = float(subject["cohb_percent"])
        gli = gli_predicted_dlco(
            float(subject["age"]), float(male), float(subject["height_cm"])
        )
        hb_factor = 1.7 * hb / ((10.22 if male else 9.38) + hb)
        cohb_factor = 1.0 - 0.01 * max(cohb - 1.0, 0.0)
        expected = gli * hb_factor * cohb_factor / (1.0 + math.exp(-3.0))
        assert float(prediction["estimate"]) == pytest.approx(expected, rel=1e-5)


def test_retained_fraction_trains(tiny_cohort, make_config, tmp_path):
    config = make_config(pooling="retained_fraction", global_factor="hb+cohb+learned")
    metrics = run_training(config, *tiny_cohort, tmp_path, device="cpu")
    with open(tmp_path / "learning-curves.csv") as f:
        curves = list(csv.DictReader(f))
    assert len(curves) == 2
    assert all(math.isfinite(float(row["train_loss"])) for row in curves)
    assert math.isfinite(metrics["test"]["model"]["mae"])


def test_retained_fraction_needs_gli(tiny_cohort, make_config, tmp_path):
    bags, manifest = tiny_cohort
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["height_cm"] = ""
    no_height = tmp_path / "manifest.csv"
    with open(no_height, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config = make_config(pooling="retained_fraction")
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="needs the GLI 2017 predicted DLCO"):
        run_training(config, bags, no_height, out, device="cpu")
    assert not any(out.iterdir())
    # Without metadata the reference is the lung volume, so the same manifest is fine.
    image_only = make_config(pooling="retained_fraction", use_metadata=False, epochs=1)
    run_training(image_only, bags, no_height, tmp_path / "image-only", device="cpu")
