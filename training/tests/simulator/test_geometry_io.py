"""Affines, storage orientations, slice thickness and file readers."""

from __future__ import annotations

import dataclasses
import gzip

import nibabel as nib
import numpy as np
import pytest
from simulator_helpers import COARSE_PROFILE, make_subject

from dlco_train.simulator.geometry import LPS_TO_RAS, Grid, reorient, write_nifti
from dlco_train.simulator.nrrd import read_nrrd
from dlco_train.simulator.scanner import (
    MAX_SUBSLICE_MM,
    PROFILES,
    pool_labels,
    pool_sum,
    scan_grids,
)


def test_grid_affine_is_ras_of_lps():
    grid = Grid((4, 5, 6), (1.5, 2.0, 3.0), (-10.0, 20.0, 30.0))
    lps = grid.affine_lps() @ np.array([1, 2, 3, 1.0])
    ras = grid.affine_ras() @ np.array([1, 2, 3, 1.0])
    assert np.allclose(lps[:3], [-8.5, 24.0, 39.0])
    assert np.allclose(ras[:3], [8.5, -24.0, 39.0])


def test_nifti_affine_round_trips(tmp_path):
    grid = Grid((4, 5, 6), (1.5, 2.0, 3.0), (-10.0, 20.0, 30.0))
    data = np.arange(120, dtype=np.int16).reshape(grid.shape)
    assert nib.aff2axcodes(grid.affine_ras()) == ("L", "P", "S")
    # Stored axes: reversed S (so I), L, then reversed P (so A).
    (moved,), moved_affine = reorient(
        [data], grid.affine_ras(), (2, 0, 1), (True, False, True)
    )
    path = tmp_path / "volume.nii.gz"
    write_nifti(path, moved, moved_affine)
    image = nib.load(str(path))
    assert np.allclose(image.affine, moved_affine)
    assert np.allclose(image.header.get_sform(), moved_affine)
    assert np.allclose(image.header.get_qform(), moved_affine, atol=1e-4)
    assert image.get_data_dtype() == np.int16
    assert np.array_equal(np.asanyarray(image.dataobj), moved)
    assert nib.aff2axcodes(image.affine) == ("I", "L", "A")


def test_reorient_keeps_world_positions():
    grid = Grid((3, 4, 5), (1.0, 2.0, 3.0), (0.0, 0.0, 0.0))
    data = np.random.default_rng(0).normal(size=grid.shape)
    (moved,), affine = reorient(
        [data], grid.affine_lps(), (1, 2, 0), (False, True, True)
    )
    for index in [(0, 0, 0), (2, 3, 4), (1, 2, 3)]:
        world = grid.affine_lps() @ np.array([*index, 1.0])
        new_index = np.linalg.solve(affine, world)[:3].round().astype(int)
        assert moved[tuple(new_index)] == data[index]


def test_permuted_profile_stores_same_anatomy(render):
    subject = make_subject("fibrosis", 0.8)
    canonical = render(subject)
    permuted_profile = dataclasses.replace(
        COARSE_PROFILE, axis_order=(2, 0, 1), flips=(True, False, True)
    )
    permuted = render(subject, permuted_profile)
    assert permuted.ct.shape == (
        canonical.ct.shape[2],
        canonical.ct.shape[0],
        canonical.ct.shape[1],
    )
    for name in ("ct", "deficit", "labels"):
        image = nib.as_closest_canonical(
            nib.Nifti1Image(getattr(permuted, name), permuted.affine_ras)
        )
        reference = nib.as_closest_canonical(
            nib.Nifti1Image(getattr(canonical, name), canonical.affine_ras)
        )
        assert np.allclose(image.affine, reference.affine)
        assert np.array_equal(
            np.asanyarray(image.dataobj), np.asanyarray(reference.dataobj)
        )


def _lung_summary(scan) -> tuple[float, np.ndarray]:
    voxel_ml = abs(np.linalg.det(scan.affine_ras[:3, :3])) / 1000.0
    index = np.argwhere(scan.labels > 0)
    centroid = (scan.affine_ras @ np.c_[index, np.ones(len(index))].T)[:3].mean(axis=1)
    return len(index) * voxel_ml, centroid


def test_slice_thickness_keeps_anatomy(render):
    subject = make_subject("centrilobular", 0.6)
    thin = render(subject, dataclasses.replace(COARSE_PROFILE, slice_thickness_mm=1.25))
    thick = render(subject, dataclasses.replace(COARSE_PROFILE, slice_thickness_mm=5.0))
    thin_volume, thin_centroid = _lung_summary(thin)
    thick_volume, thick_centroid = _lung_summary(thick)
    assert thick_volume == pytest.approx(thin_volume, rel=0.03)
    assert np.linalg.norm(thick_centroid - thin_centroid) < 3.0
    assert float(thick.healthy.sum()) == pytest.approx(
        float(thin.healthy.sum()), rel=1e-5
    )
    assert thick.dlco.structural == pytest.approx(thin.dlco.structural, rel=0.03)
    assert thick.ct.shape[2] < thin.ct.shape[2] / 3


def test_tight_fov_pads_outside_circle(render):
    subject = make_subject("healthy")
    tight = render(subject, dataclasses.replace(COARSE_PROFILE, fov_mm=300.0))
    corner = tight.ct[0, 0, :]
    centre = tight.ct[tight.ct.shape[0] // 2, tight.ct.shape[1] // 2, :]
    assert np.all(corner == -3024)
    assert np.all(centre > -1100)


def _nrrd_bytes(data: np.ndarray, encoding: str, space: str) -> bytes:
    payload = data.tobytes(order="F")
    if encoding == "gzip":
        payload = gzip.compress(payload)
    header = (
        "NRRD0004\n"
        "type: short\n"
        "dimension: 3\n"
        f"space: {space}\n"
        f"sizes: {' '.join(str(n) for n in data.shape)}\n"
        "space directions: (2,0,0) (0,3,0) (0,0,4)\n"
        "kinds: domain domain domain\n"
        "endian: little\n"
        f"encoding: {encoding}\n"
        "space origin: (-10,20,30)\n\n"
    )
    return header.encode("ascii") + payload


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
def test_nrrd_reader_round_trips(tmp_path, encoding):
    data = np.arange(2 * 3 * 4, dtype="<i2").reshape(2, 3, 4) - 1000
    path = tmp_path / "volume.nrrd"
    path.write_bytes(_nrrd_bytes(data, encoding, "left-posterior-superior"))
    read, affine = read_nrrd(path)
    assert np.array_equal(read, data)
    assert np.allclose(affine[:3, :3], np.diag([2.0, 3.0, 4.0]))
    assert np.allclose(affine[:3, 3], [-10.0, 20.0, 30.0])


def test_nrrd_reader_converts_ras_to_lps(tmp_path):
    data = np.zeros((2, 2, 2), dtype="<i2")
    path = tmp_path / "volume.nrrd"
    path.write_bytes(_nrrd_bytes(data, "raw", "right-anterior-superior"))
    _, affine = read_nrrd(path)
    assert np.allclose(
        affine,
        LPS_TO_RAS
        @ np.array([[2, 0, 0, -10], [0, 3, 0, 20], [0, 0, 4, 30], [0, 0, 0, 1.0]]),
    )


def test_nrrd_reader_rejects_2d(tmp_path):
    path = tmp_path / "slice.nrrd"
    path.write_bytes(
        b"NRRD0004\ntype: short\ndimension: 2\nsizes: 2 2\nencoding: raw\n\n" + bytes(8)
    )
    with pytest.raises(ValueError, match="only 3-D"):
        read_nrrd(path)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_grids_align_subslices(name):
    profile = PROFILES[name]
    stored, fine, subslices = scan_grids(profile, (0.0, 8.0), (-35.0, 255.0))
    assert fine.shape[2] == stored.shape[2] * subslices
    assert fine.spacing_mm[2] <= MAX_SUBSLICE_MM
    assert fine.spacing_mm[2] * subslices == pytest.approx(profile.slice_thickness_mm)
    # Each stored slice centre is the mean of its sub-slice centres.
    fine_z = fine.axis_mm(2).reshape(-1, subslices).mean(axis=1)
    assert np.allclose(fine_z, stored.axis_mm(2), atol=1e-3)
    assert stored.axis_mm(2)[0] <= -35.0 + profile.slice_thickness_mm
    assert stored.axis_mm(2)[-1] >= 255.0 - profile.slice_thickness_mm


def test_pooling_keeps_sums_and_majority_labels():
    values = np.arange(2 * 2 * 6, dtype=np.float32).reshape(2, 2, 6)
    pooled = pool_sum(values, 3)
    assert pooled.shape == (2, 2, 2)
    assert float(pooled.sum()) == pytest.approx(float(values.sum()))
    labels = np.array([1, 1, 2, 0, 3, 3], dtype=np.uint8).reshape(1, 1, 6)
    assert pool_labels(labels, 3, 11).ravel().tolist() == [1, 3]
    tie = np.array([2, 1], dtype=np.uint8).reshape(1, 1, 2)
    assert pool_labels(tie, 2, 11).ravel().tolist() == [1]


@pytest.mark.parametrize("kernel", ["smooth", "standard", "sharp"])
def test_noise_sd_matches_profile(render, subject_model, kernel):
    subject = make_subject("healthy")
    noisy = render(subject, dataclasses.replace(COARSE_PROFILE, kernel=kernel))
    clean = render(
        subject, dataclasses.replace(COARSE_PROFILE, kernel=kernel, noise_hu=0.0)
    )
    params = subject_model(subject).params
    body_scale = np.sqrt(params.body_a_mm * params.body_b_mm / (175.0 * 130.0))
    # Soft tissue is far from the clipping limits, so the difference is the noise.
    tissue = (clean.ct > -200) & (clean.ct < 200)
    difference = noisy.ct[tissue].astype(float) - clean.ct[tissue]
    expected = COARSE_PROFILE.noise_hu * body_scale
    assert difference.std() == pytest.approx(expected, rel=0.1)
