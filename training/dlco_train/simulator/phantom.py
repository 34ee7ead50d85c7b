"""One subject's phantom and the rendering of one scan with its ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import AnatomyParams, lung_box, lung_side, render_body, sample_anatomy
from .fields import gaussian_random_field, resample_linear
from .geometry import LPS_TO_RAS, Grid, reorient
from .lungs import LungBounds, LungContext, build_context, lung_bounds
from .pathology import (
    LABELS,
    LUCENT_HU,
    WALL_HU,
    LesionPlan,
    plan_lesions,
    prune_arteries,
    render_lesions,
)
from .physiology import (
    ConductanceMaps,
    DlcoValues,
    conductance_maps,
    measure_dlco,
    measurement_rng,
)
from .scanner import ScannerProfile, acquire_ct, pool_labels, pool_sum, scan_grids
from .trees import SubjectTrees, build_subject_trees, render_tree

__all__ = ["ScanResult", "Subject", "SubjectModel", "render_scan"]


REFERENCE_SPACING_MM = 2.5
"""Voxel size (mm) of the subject-level grid of random fields and lesion placement."""

AIRWAY_WALL_SCALE = 1.35
"""Outer airway wall radius as a multiple of the lumen radius."""

_HU_BLOOD = 40.0
_HU_AIRWAY_WALL = 20.0
_HU_AIR = -1000.0


@dataclass(frozen=True)
class Subject:
    """Demographics, physiology and disease of one simulated subject.

    Attributes:
        subject_id: Identifier shared by all scans of the subject.
        seed: Seed of everything subject-level (anatomy, trees, lesions, fields).
        age_years: Age in years.
        sex: ``"M"`` or ``"F"``.
        height_cm: Standing height in cm.
        weight_kg: Weight in kg.
        smoking: ``never``, ``former`` or ``current``.
        pack_years: Cumulative smoking in pack-years.
        hb_g_dl: Haemoglobin in g/dL.
        cohb_percent: Carboxyhaemoglobin in percent.
        phenotype: Key of ``pathology.PHENOTYPES``.
        severity: Disease severity in [0, 1]; 0 for healthy subjects.
    """

    subject_id: str
    seed: int
    age_years: float
    sex: str
    height_cm: float
    weight_kg: float
    smoking: str
    pack_years: float
    hb_g_dl: float
    cohb_percent: float
    phenotype: str
    severity: float


class SubjectModel:
    """Subject-level state reused by every scan of one subject.

    Contains the anatomy, a 2.5 mm reference grid with the lung mask, pleural distance and
    random fields, the airway and vessel trees and the lesion plan.

    Args:
        subject: The subject.
    """

    def __init__(self, subject: Subject) -> None:
        self.subject = subject
        rng = np.random.default_rng(subject.seed)
        self.params: AnatomyParams = sample_anatomy(
            subject.sex, subject.height_cm, subject.weight_kg, rng
        )
        self.reference_grid = _reference_grid(self.params)
        x, y, z = self.reference_grid.coordinates_mm()
        reference_lung = lung_side(x, y, z, self.params)
        self.bounds: LungBounds = lung_bounds(self.reference_grid, reference_lung)
        self.reference: LungContext = build_context(
            self.reference_grid, reference_lung, self.bounds
        )
        self.fields = {
            "texture": gaussian_random_field(self.reference_grid, 2.5, rng),
            "patchy": gaussian_random_field(self.reference_grid, 15.0, rng),
            "reticular": gaussian_random_field(self.reference_grid, 3.0, rng),
        }
        self.trees: SubjectTrees = build_subject_trees(self.params, rng)
        self.plan: LesionPlan = plan_lesions(
            subject.phenotype, subject.severity, self.reference, rng
        )
        self.scan_arteries = prune_arteries(self.trees.arteries, self.plan, rng)


def _reference_grid(params: AnatomyParams) -> Grid:
    spacing = REFERENCE_SPACING_MM
    low = np.array([-params.cavity_a_mm - 4.0, -params.cavity_b_mm - 4.0, -4.0])
    high = np.array(
        [
            params.cavity_a_mm + 4.0,
            params.cavity_b_mm + 4.0,
            params.lung_height_mm + 4.0,
        ]
    )
    shape = tuple(int(n) for n in np.ceil((high - low) / spacing) + 1)
    return Grid(shape, (spacing,) * 3, tuple(float(v) for v in low))


@dataclass
class ScanResult:
    """One stored scan and its ground truth, all on the stored grid and axis order.

    Attributes:
        ct: int16 HU.
        deficit: float32 conductance deficit, ml/min/mmHg per voxel.
        healthy: float32 healthy conductance, ml/min/mmHg per voxel.
        labels: uint8 lesion labels (``pathology.LABELS``).
        affine_ras: 4x4 voxel-to-RAS affine (mm) of every array.
        dlco: DLCO values of the scan.
        profile_name: Scanner profile, or ``real:<name>`` for a real background.
        kernel: Reconstruction kernel name.
        slice_thickness_mm: Slice thickness in mm.
    """

    ct: np.ndarray
    deficit: np.ndarray
    healthy: np.ndarray
    labels: np.ndarray
    affine_ras: np.ndarray
    dlco: DlcoValues
    profile_name: str
    kernel: str
    slice_thickness_mm: float


def render_scan(
    model: SubjectModel,
    profile: ScannerProfile,
    predicted_dlco: float,
    rng: np.random.Generator,
) -> ScanResult:
    """Render one CT of a subject on a scanner profile, with its truth maps.

    Args:
        model: Subject-level state.
        profile: Scanner profile.
        predicted_dlco: GLI predicted DLCO of the subject (ml/min/mmHg).
        rng: Random generator of this scan's CT noise.

    Returns:
        The scan.
    """
    params = model.params
    stored, fine, subslices = scan_grids(
        profile, (0.0, 8.0), (-35.0, params.lung_height_mm + 20.0)
    )
    hu, lung = render_body(fine, params)
    # Lungs, airways and pulmonary vessels lie inside the cavity box, so all lung
    # work runs on that crop and is written back.
    box = lung_box(fine, params)
    cavity = fine.crop(box)
    cavity_hu, maps, labels = _render_cavity(
        model, cavity, hu[box], lung[box], predicted_dlco
    )
    hu[box] = cavity_hu

    subject = model.subject
    dlco = measure_dlco(
        maps,
        predicted_dlco,
        subject.sex,
        subject.hb_g_dl,
        subject.cohb_percent,
        measurement_rng(subject.seed),
    )
    full_maps = []
    for cavity_map in (maps.healthy, maps.actual, maps.deficit):
        full = np.zeros(fine.shape, dtype=np.float32)
        full[box] = cavity_map
        full_maps.append(pool_sum(full, subslices))
    full_labels = np.zeros(fine.shape, dtype=np.uint8)
    full_labels[box] = labels

    noise_scale = float(np.sqrt(params.body_a_mm * params.body_b_mm / (175.0 * 130.0)))
    ct = acquire_ct(hu, stored, subslices, profile, noise_scale, rng)
    stored_labels = pool_labels(full_labels, subslices, len(LABELS))
    return _store(ct, ConductanceMaps(*full_maps), stored_labels, stored, profile, dlco)


def _render_cavity(
    model: SubjectModel,
    grid: Grid,
    body_hu: np.ndarray,
    lung: np.ndarray,
    predicted_dlco: float,
) -> tuple[np.ndarray, ConductanceMaps, np.ndarray]:
    """Render parenchyma, lesions, airways and vessels on the cavity crop.

    Returns:
        float32 HU of the crop, conductance maps (healthy map summing to
        ``predicted_dlco``) and the uint8 lesion labels.
    """
    params = model.params
    context = build_context(
        grid,
        lung,
        model.bounds,
        pleura_source=(model.reference_grid, model.reference.pleura_mm),
    )
    lung_mask = context.mask
    # Resampling is costly, so only the fields this subject's lesions use are resampled.
    fields = {
        name: resample_linear(
            model.fields[name], model.reference_grid, grid, mask=lung_mask
        )
        for name in {"texture"} | model.plan.fields_needed()
    }
    parenchyma = (
        np.float32(params.parenchyma_hu)
        + np.float32(params.gravity_gradient_hu)
        * (context.dependency - np.float32(0.5))
        + np.float32(params.texture_sd_hu) * fields["texture"]
    )
    lesions = render_lesions(
        model.plan, context, parenchyma, fields, params.atelectasis_mm
    )
    hu = np.where(lung_mask, parenchyma + lesions.hu_delta, body_hu)
    del parenchyma
    hu += lesions.lucent_fraction * (np.float32(LUCENT_HU) - hu)
    hu += lesions.wall_fraction * (np.float32(WALL_HU) - hu)

    veins = render_tree(grid, model.trees.veins)
    vessels = np.maximum(render_tree(grid, model.scan_arteries), veins)
    if model.scan_arteries is model.trees.arteries:
        healthy_vessels = vessels
    else:
        healthy_vessels = np.maximum(render_tree(grid, model.trees.arteries), veins)
    lumen = render_tree(grid, model.trees.airways)
    airway_wall = np.clip(
        render_tree(grid, model.trees.airways, AIRWAY_WALL_SCALE) - lumen, 0.0, 1.0
    )
    hu += vessels * (np.float32(_HU_BLOOD) - hu)
    hu += airway_wall * (np.float32(_HU_AIRWAY_WALL) - hu)
    hu += lumen * (np.float32(_HU_AIR) - hu)

    alveolar = (
        np.clip(1.0 - healthy_vessels - lumen - airway_wall, 0.0, 1.0) * lung_mask
    )
    maps = conductance_maps(
        context, alveolar, lesions.conductance_factor, predicted_dlco
    )
    return hu, maps, lesions.labels


def _store(
    ct: np.ndarray,
    maps: ConductanceMaps,
    labels: np.ndarray,
    stored: Grid,
    profile: ScannerProfile,
    dlco: DlcoValues,
) -> ScanResult:
    arrays, affine_lps = reorient(
        [ct, maps.deficit, maps.healthy, labels],
        stored.affine_lps(),
        profile.axis_order,
        profile.flips,
    )
    ct, deficit, healthy, labels = arrays
    return ScanResult(
        ct=ct,
        deficit=deficit,
        healthy=healthy,
        labels=labels,
        affine_ras=LPS_TO_RAS @ affine_lps,
        dlco=dlco,
        profile_name=profile.name,
        kernel=profile.kernel,
        slice_thickness_mm=profile.slice_thickness_mm,
    )
