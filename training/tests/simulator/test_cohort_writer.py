"""Cohort planning, splits, real backgrounds and the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from simulator_helpers import COARSE_PROFILE, make_subject

from dlco_train.simulator import scanner
from dlco_train.simulator.__main__ import main
from dlco_train.simulator.backgrounds import (
    discover_backgrounds,
    load_background,
    render_real_scan,
)
from dlco_train.simulator.cohort import MANIFEST_COLUMNS, CohortConfig, plan_cohort
from dlco_train.simulator.scanner import DEFAULT_TEST_PROFILES

REAL_DATA = Path("/work/shared/data/real")
CIP_CT = REAL_DATA / "cip-ct64" / "ct-64.nrrd"
CIP_MASK = REAL_DATA / "cip-ct64" / "wholeLung-64.nrrd"
CIP_LUNG_ML = 4554.0


def test_plan_splits_by_subject():
    specs = plan_cohort(CohortConfig(subjects=200, seed=3, scans_per_subject=2))
    splits_of_subject: dict[str, set[str]] = {}
    for spec in specs:
        splits_of_subject.setdefault(spec.subject.subject_id, set()).add(spec.split)
    assert len(specs) == 400
    assert all(len(splits) == 1 for splits in splits_of_subject.values())
    counts = {
        name: sum(s.split == name for s in specs) // 2
        for name in ("train", "val", "test")
    }
    assert counts == {"train": 140, "val": 30, "test": 30}


def test_held_out_profiles_only_in_test():
    specs = plan_cohort(CohortConfig(subjects=300, seed=4))
    held_out = [spec for spec in specs if spec.profile in DEFAULT_TEST_PROFILES]
    assert held_out
    assert all(spec.split == "test" for spec in held_out)
    test_specs = [spec for spec in specs if spec.split == "test"]
    assert 0.3 < len(held_out) / len(test_specs) < 0.7


def test_chosen_test_profiles_are_held_out():
    config = CohortConfig(subjects=200, seed=4, test_profiles=("beta-thick-5.0",))
    specs = plan_cohort(config)
    assert all(
        spec.split == "test" for spec in specs if spec.profile == "beta-thick-5.0"
    )
    assert any(
        spec.profile == "delta-thin-0.625" and spec.split == "train" for spec in specs
    )


def test_plan_is_deterministic():
    first = plan_cohort(CohortConfig(subjects=50, seed=9))
    second = plan_cohort(CohortConfig(subjects=50, seed=9))
    other = plan_cohort(CohortConfig(subjects=50, seed=10))
    assert first == second
    assert first != other


@pytest.mark.parametrize(
    "config, message",
    [
        (
            CohortConfig(subjects=5, seed=1, phenotype_mix={"asthma": 1.0}),
            "unknown phenotype",
        ),
        (
            CohortConfig(subjects=5, seed=1, profile_mix={"nope": 1.0}),
            "unknown scanner profile",
        ),
        (
            CohortConfig(subjects=5, seed=1, test_profiles=("nope",)),
            "unknown test profiles",
        ),
        (
            CohortConfig(subjects=5, seed=1, profile_mix={"delta-thin-0.625": 1.0}),
            "keep at least one profile",
        ),
        (CohortConfig(subjects=0, seed=1), "at least 1"),
    ],
)
def test_invalid_config_rejected(config, message):
    with pytest.raises(ValueError, match=message):
        plan_cohort(config)


def test_demographics_in_gli_range():
    specs = plan_cohort(CohortConfig(subjects=300, seed=5))
    ages = np.array([spec.subject.age_years for spec in specs])
    heights = np.array([spec.subject.height_cm for spec in specs])
    assert ages.min() >= 25
    assert ages.max() <= 85
    assert heights.min() >= 145
    assert heights.max() <= 205
    healthy = [spec.subject for spec in specs if spec.subject.phenotype == "healthy"]
    assert all(subject.severity == 0 for subject in healthy)
    never = [spec.subject for spec in specs if spec.subject.smoking == "never"]
    assert all(subject.pack_years == 0 for subject in never)


def _read_manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _run_cli(out: Path, workers: int) -> None:
    argv = [
        "--out", str(out), "--n", "2", "--seed", "11",
        "--profile-mix", f"{COARSE_PROFILE.name}=1",
        "--test-profiles", "", "--workers", str(workers), "--log-level", "WARNING",
    ]  # fmt: skip
    assert main(argv) == 0


@pytest.fixture(scope="module")
def cli_cohorts(tmp_path_factory):
    """Write the same 2-subject cohort with 1 and with 2 worker processes."""
    patch = pytest.MonkeyPatch()
    patch.setitem(scanner.PROFILES, COARSE_PROFILE.name, COARSE_PROFILE)
    try:
        # Worker processes are forked, so they inherit the patched profile table.
        outputs = [tmp_path_factory.mktemp(f"cohort{workers}") for workers in (1, 2)]
        for workers, out in zip((1, 2), outputs):
            _run_cli(out, workers)
    finally:
        patch.undo()
    return outputs


def test_cli_writes_cohort(cli_cohorts):
    out = cli_cohorts[0]
    rows = _read_manifest(out)
    assert len(rows) == 2
    assert list(rows[0].keys()) == MANIFEST_COLUMNS
    for row in rows:
        ct = nib.load(str(out / row["path"]))
        deficit = nib.load(str(out / row["truth_path"] / "deficit.nii.gz"))
        labels = nib.load(str(out / row["truth_path"] / "labels.nii.gz"))
        healthy = nib.load(str(out / row["truth_path"] / "healthy.nii.gz"))
        assert ct.get_data_dtype() == np.int16
        assert deficit.get_data_dtype() == np.float32
        assert labels.get_data_dtype() == np.uint8
        assert np.allclose(ct.affine, deficit.affine)
        assert ct.shape == labels.shape == healthy.shape
        lost = float(row["dlco_predicted"]) - float(row["dlco_structural"])
        assert float(
            np.asanyarray(deficit.dataobj).sum(dtype=np.float64)
        ) == pytest.approx(lost, abs=1e-3)
        assert row["split"] in ("train", "val", "test")
        assert row["sex"] in ("M", "F")
    description = json.loads((out / "cohort.json").read_text())
    assert description["seed"] == 11
    assert description["labels"]["10"].startswith("dependent atelectasis")


def test_cli_is_deterministic_across_workers(cli_cohorts):
    first, second = cli_cohorts
    assert (first / "manifest.csv").read_bytes() == (
        second / "manifest.csv"
    ).read_bytes()
    for row in _read_manifest(first):
        for relative in (row["path"], f"{row['truth_path']}/deficit.nii.gz"):
            a = np.asanyarray(nib.load(str(first / relative)).dataobj)
            b = np.asanyarray(nib.load(str(second / relative)).dataobj)
            assert np.array_equal(a, b)


def test_rerun_keeps_finished_subjects_and_renders_the_rest(tmp_path):
    patch = pytest.MonkeyPatch()
    patch.setitem(scanner.PROFILES, COARSE_PROFILE.name, COARSE_PROFILE)
    try:
        _run_cli(tmp_path, 1)
        first = (tmp_path / "manifest.csv").read_bytes()
        rows = _read_manifest(tmp_path)
        reused, removed = rows[0], rows[1]
        reused_ct = tmp_path / reused["path"]
        reused_mtime = reused_ct.stat().st_mtime_ns
        # A run stopped before the second subject finished leaves no row for it.
        (tmp_path / "rows" / f"{removed['id']}.json").unlink()
        (tmp_path / removed["path"]).unlink()
        (tmp_path / "manifest.csv").unlink()
        _run_cli(tmp_path, 1)
    finally:
        patch.undo()
    assert (tmp_path / "manifest.csv").read_bytes() == first
    assert reused_ct.stat().st_mtime_ns == reused_mtime
    assert (tmp_path / removed["path"]).is_file()


def test_rerun_renders_again_when_the_plan_changed(tmp_path):
    patch = pytest.MonkeyPatch()
    patch.setitem(scanner.PROFILES, COARSE_PROFILE.name, COARSE_PROFILE)
    try:
        _run_cli(tmp_path, 1)
        row_path = tmp_path / "rows" / f"{_read_manifest(tmp_path)[0]['id']}.json"
        row = json.loads(row_path.read_text())
        # The split is part of the plan; a row from another plan must not be reused.
        row["split"] = "elsewhere"
        row_path.write_text(json.dumps(row))
        _run_cli(tmp_path, 1)
    finally:
        patch.undo()
    assert json.loads(row_path.read_text())["split"] != "elsewhere"
    assert "elsewhere" not in (tmp_path / "manifest.csv").read_text()


def test_rerun_with_other_settings_is_refused(tmp_path, caplog):
    patch = pytest.MonkeyPatch()
    patch.setitem(scanner.PROFILES, COARSE_PROFILE.name, COARSE_PROFILE)
    try:
        _run_cli(tmp_path, 1)
        manifest = (tmp_path / "manifest.csv").read_bytes()
        argv = [
            "--out", str(tmp_path), "--n", "2", "--seed", "11",
            "--profile-mix", f"{COARSE_PROFILE.name}=1", "--test-profiles", "",
            "--phenotype-mix", "fibrosis=1", "--workers", "1",
        ]  # fmt: skip
        assert main(argv) == 2
    finally:
        patch.undo()
    assert "simulated with other settings" in caplog.text
    assert "config" in caplog.text
    assert "delete" in caplog.text
    assert (tmp_path / "manifest.csv").read_bytes() == manifest


def test_cli_rejects_unknown_phenotype(tmp_path, caplog):
    argv = ["--out", str(tmp_path), "--n", "1", "--phenotype-mix", "asthma=1"]
    assert main(argv) == 2
    assert "unknown phenotype" in caplog.text


needs_real_data = pytest.mark.skipif(
    not CIP_CT.is_file(), reason=f"real background {CIP_CT} is not available"
)


@needs_real_data
def test_real_background_volume_and_sides():
    background = load_background(CIP_CT, CIP_MASK)
    voxel_ml = background.grid.voxel_volume_ml
    assert (background.lung > 0).sum() * voxel_ml == pytest.approx(
        CIP_LUNG_ML, rel=0.001
    )
    right = np.argwhere(background.lung == 1)[:, 0].mean()
    left = np.argwhere(background.lung == 2)[:, 0].mean()
    # Canonical axis 0 points to the patient's left.
    assert right < left
    assert (CIP_CT, CIP_MASK) in discover_backgrounds(REAL_DATA)


@needs_real_data
@pytest.mark.parametrize(
    "phenotype", ["healthy", "centrilobular", "fibrosis", "vascular"]
)
def test_real_background_lesions(phenotype):
    background = load_background(CIP_CT, CIP_MASK)
    subject = make_subject(phenotype, 0.0 if phenotype == "healthy" else 0.8)
    scan = render_real_scan(background, subject, 28.43, np.random.default_rng(0))
    lost = scan.dlco.predicted - scan.dlco.structural
    assert float(scan.deficit.sum(dtype=np.float64)) == pytest.approx(lost, abs=1e-4)
    lung = background.lung > 0
    original = np.rint(background.ct).astype(np.int16)
    assert np.array_equal(scan.ct[~lung], original[~lung])
    change = scan.ct[lung].astype(float).mean() - background.ct[lung].mean()
    if phenotype == "healthy":
        assert lost == pytest.approx(0.0, abs=1e-6)
        assert change == pytest.approx(0.0, abs=0.5)
    elif phenotype == "vascular":
        assert abs(change) < 0.5
        assert lost > 0.1 * scan.dlco.predicted
    elif phenotype == "centrilobular":
        assert change < -10
        assert lost > 0.1 * scan.dlco.predicted
    else:
        assert change > 10
        assert lost > 0.05 * scan.dlco.predicted


@needs_real_data
def test_cli_real_backgrounds(tmp_path):
    out = tmp_path / "real"
    argv = [
        "--out", str(out), "--n", "2", "--seed", "8",
        "--real-backgrounds", f"{CIP_CT}={CIP_MASK}", "--real-fraction", "1",
        "--workers", "1", "--log-level", "WARNING",
    ]  # fmt: skip
    assert main(argv) == 0
    rows = _read_manifest(out)
    assert [row["scanner_profile"] for row in rows] == ["real:cip-ct64"] * 2
    assert all(row["kernel"] == "as-acquired" for row in rows)
    assert all(row["scanner_shift"] == "0" for row in rows)
    ct = nib.load(str(out / rows[0]["path"]))
    assert ct.shape == (64, 64, 79)
    # The NRRD is LPS with positive spacing, so the RAS affine negates x and y.
    assert np.allclose(np.diag(ct.affine)[:3], [-4.171872, -4.171872, 3.9873418])


def test_cli_rejects_folder_without_pairs(tmp_path, caplog):
    argv = [
        "--out",
        str(tmp_path / "out"),
        "--n",
        "1",
        "--real-backgrounds",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert "no CT and lung-mask pair" in caplog.text
