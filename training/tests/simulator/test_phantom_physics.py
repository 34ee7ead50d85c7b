"""Rendered scans: determinism, DLCO bookkeeping and the CT signature of lesions."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from scipy import ndimage
from simulator_helpers import COARSE_PROFILE, make_subject, with_params

from dlco_train.simulator.phantom import SubjectModel, render_scan

SEVERITY = 0.8


def lung_hu(scan) -> np.ndarray:
    return scan.ct[scan.labels > 0].astype(np.float64)


def laa_950(scan) -> float:
    return float((lung_hu(scan) < -950).mean())


def haa(scan) -> float:
    values = lung_hu(scan)
    return float(((values >= -600) & (values <= -250)).mean())


def test_same_seed_identical_arrays(render):
    subject = make_subject("cpfe", SEVERITY)
    cached = render(subject)
    # A model built afresh shares no state with the cached one.
    fresh = render_scan(
        SubjectModel(subject),
        COARSE_PROFILE,
        cached.dlco.predicted,
        np.random.default_rng(0),
    )
    assert fresh.ct.tobytes() == cached.ct.tobytes()
    assert fresh.deficit.tobytes() == cached.deficit.tobytes()
    assert fresh.healthy.tobytes() == cached.healthy.tobytes()
    assert fresh.labels.tobytes() == cached.labels.tobytes()
    assert fresh.dlco == cached.dlco


def test_different_seed_changes_arrays(render):
    first = render(make_subject("cpfe", SEVERITY))
    second = render(make_subject("cpfe", SEVERITY, seed=99))
    assert first.ct.shape != second.ct.shape or not np.array_equal(first.ct, second.ct)
    assert first.dlco.structural != second.dlco.structural


def test_scan_seed_changes_noise_only(render):
    subject = make_subject("healthy")
    first = render(subject, scan_seed=0)
    second = render(subject, scan_seed=1)
    assert not np.array_equal(first.ct, second.ct)
    assert np.array_equal(first.deficit, second.deficit)
    assert first.dlco.structural == pytest.approx(second.dlco.structural, rel=1e-9)
    # One subject has one lung-function test, whatever the scan.
    assert first.dlco.measured == second.dlco.measured


@pytest.mark.parametrize(
    "phenotype",
    ["centrilobular", "panlobular", "paraseptal", "fibrosis", "vascular", "cpfe"],
)
def test_deficit_sums_to_lost_dlco(render, phenotype):
    scan = render(make_subject(phenotype, SEVERITY))
    lost = scan.dlco.predicted - scan.dlco.structural
    assert lost > 0
    assert float(scan.deficit.sum(dtype=np.float64)) == pytest.approx(lost, rel=1e-4)
    assert float(scan.healthy.sum(dtype=np.float64)) == pytest.approx(
        scan.dlco.predicted, rel=1e-5
    )
    assert scan.deficit.min() >= 0


def test_healthy_dlco_matches_gli(render, gli_table):
    subject = make_subject("healthy")
    scan = render(subject)
    predicted = gli_table.predicted_dlco(50, "M", 175)
    assert predicted == pytest.approx(28.43, abs=0.01)
    assert scan.dlco.true_noiseless == pytest.approx(predicted, rel=0.01)
    assert float(scan.deficit.sum()) == pytest.approx(0.0, abs=1e-6)


def test_healthy_female_matches_gli(render, gli_table):
    subject = make_subject("healthy", sex="F", height_cm=163.0, hb_g_dl=13.4, seed=77)
    scan = render(subject)
    assert gli_table.predicted_dlco(50, "F", 163) == pytest.approx(20.71, abs=0.01)
    assert scan.dlco.true_noiseless == pytest.approx(20.71, rel=0.01)


def test_hb_and_cohb_scale_measured_dlco(subject_model):
    model = subject_model(make_subject("healthy"))
    # Haemoglobin and COHb do not change the phantom, so the healthy model is reused.
    anaemic_smoker = copy.copy(model)
    anaemic_smoker.subject = dataclasses.replace(
        model.subject, hb_g_dl=10.0, cohb_percent=6.0, smoking="current"
    )
    scan = render_scan(anaemic_smoker, COARSE_PROFILE, 28.43, np.random.default_rng(0))
    expected_hb = 1.7 * 10.0 / (10.22 + 10.0)
    assert scan.dlco.hb_factor == pytest.approx(expected_hb)
    assert scan.dlco.cohb_factor == pytest.approx(0.95)
    assert scan.dlco.true_noiseless == pytest.approx(
        scan.dlco.structural * expected_hb * 0.95, rel=1e-9
    )


def test_emphysema_lowers_density_and_dlco(render):
    healthy = render(make_subject("healthy"))
    emphysema = render(make_subject("centrilobular", SEVERITY))
    assert lung_hu(emphysema).mean() < lung_hu(healthy).mean() - 10
    assert laa_950(emphysema) > laa_950(healthy) + 0.05
    assert emphysema.dlco.structural < 0.9 * healthy.dlco.structural


def test_panlobular_raises_low_attenuation(render):
    healthy = render(make_subject("healthy"))
    panlobular = render(make_subject("panlobular", SEVERITY))
    assert laa_950(panlobular) > laa_950(healthy) + 0.02
    assert panlobular.dlco.structural < healthy.dlco.structural


def test_fibrosis_raises_high_attenuation(render):
    healthy = render(make_subject("healthy"))
    fibrosis = render(make_subject("fibrosis", SEVERITY))
    assert haa(fibrosis) > haa(healthy) + 0.03
    assert lung_hu(fibrosis).mean() > lung_hu(healthy).mean() + 20
    assert fibrosis.dlco.structural < healthy.dlco.structural


def test_vascular_control_is_ct_subtle(render):
    healthy = render(make_subject("healthy"))
    vascular = render(make_subject("vascular", SEVERITY))
    assert abs(lung_hu(vascular).mean() - lung_hu(healthy).mean()) < 3.0
    assert abs(laa_950(vascular) - laa_950(healthy)) < 0.01
    assert vascular.dlco.structural < 0.9 * healthy.dlco.structural


def test_gravity_gradient_keeps_dlco(subject_model):
    model = subject_model(make_subject("healthy"))
    flat = with_params(model, gravity_gradient_hu=0.0, atelectasis_mm=0.0)
    steep = with_params(model, gravity_gradient_hu=100.0, atelectasis_mm=0.0)
    scans = [
        render_scan(variant, COARSE_PROFILE, 28.43, np.random.default_rng(0))
        for variant in (flat, steep)
    ]
    posterior_gain = []
    for scan in scans:
        lung = scan.labels > 0
        # Canonical axis 1 points posterior, so compare the back and front lung thirds.
        rows = np.flatnonzero(lung.any(axis=(0, 2)))
        third = (rows[-1] - rows[0]) // 3
        front = scan.ct[:, rows[0] : rows[0] + third][
            lung[:, rows[0] : rows[0] + third]
        ]
        back = scan.ct[:, rows[-1] - third :][lung[:, rows[-1] - third :]]
        posterior_gain.append(back.mean() - front.mean())
    assert posterior_gain[1] > posterior_gain[0] + 30
    assert scans[1].dlco.structural == pytest.approx(scans[0].dlco.structural, rel=1e-6)
    assert float(scans[1].deficit.sum()) == pytest.approx(0.0, abs=1e-6)


def test_atelectasis_keeps_dlco(subject_model):
    model = subject_model(make_subject("healthy"))
    without = with_params(model, atelectasis_mm=0.0)
    with_rim = with_params(model, atelectasis_mm=10.0)
    scans = [
        render_scan(variant, COARSE_PROFILE, 28.43, np.random.default_rng(0))
        for variant in (without, with_rim)
    ]
    assert lung_hu(scans[1]).mean() > lung_hu(scans[0]).mean() + 5
    assert (scans[1].labels == 10).sum() > 0
    assert scans[1].dlco.structural == pytest.approx(scans[0].dlco.structural, rel=1e-6)


def zone_share(scan, code: int) -> tuple[float, float]:
    """Return the share of a label's voxels in the upper and the lower half of the lung."""
    lung_slices = np.flatnonzero((scan.labels > 0).any(axis=(0, 1)))
    middle = (lung_slices[0] + lung_slices[-1]) // 2
    # Canonical axis 2 points superior, so slices above the middle are the upper half.
    voxels = scan.labels == code
    total = max(int(voxels.sum()), 1)
    upper = voxels[:, :, middle:].sum() / total
    return float(upper), float(1.0 - upper)


def test_centrilobular_is_upper_predominant(render):
    scan = render(make_subject("centrilobular", SEVERITY))
    upper, lower = zone_share(scan, 2)
    assert upper > lower


def test_panlobular_is_lower_predominant(render):
    scan = render(make_subject("panlobular", SEVERITY))
    upper, lower = zone_share(scan, 3)
    assert lower > upper


def test_fibrosis_is_basal_and_subpleural(render):
    scan = render(make_subject("fibrosis", SEVERITY))
    fibrotic = np.isin(scan.labels, (6, 7, 8))
    upper, lower = zone_share(scan, 8)
    assert lower > upper
    assert fibrotic.sum() > 0
    # Distance from the lung surface, measured on the stored grid.
    spacing = np.abs(np.diag(scan.affine_ras)[:3])
    pleura = ndimage.distance_transform_edt(scan.labels > 0, sampling=spacing)
    assert pleura[fibrotic].mean() < pleura[scan.labels > 0].mean()
