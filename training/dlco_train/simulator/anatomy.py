"""Analytic chest phantom: body wall, ribs, spine, mediastinum, heart and two lungs.

Shapes are closed-form functions of LPS position (mm), so any grid samples the same
anatomy. The origin is on the body's midline; ``z = 0`` is the lowest point of the lungs
(the posterior costophrenic recess) and ``z = lung_height_mm`` the lung apex. Every size
and HU value here is an assumption of the simulator (``docs/simulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import render_capsules
from .geometry import Grid

__all__ = [
    "HU",
    "AnatomyParams",
    "lung_box",
    "lung_side",
    "render_body",
    "sample_anatomy",
]

RIGHT_LUNG = 1
LEFT_LUNG = 2

HU = {
    "air": -1000.0,
    "fat": -100.0,
    "mediastinal_fat": -90.0,
    "muscle": 45.0,
    "blood": 40.0,
    "abdomen": 50.0,
    "rib": 500.0,
    "vertebral_body": 250.0,
    "cortical_bone": 700.0,
    "posterior_arch": 450.0,
    "sternum": 400.0,
    "disc": 80.0,
    "spinal_canal": 15.0,
    "breast": -40.0,
    "table": 150.0,
}
"""Assumed HU of each tissue class; the whole-voxel value before partial volume."""


@dataclass(frozen=True)
class AnatomyParams:
    """Size and shape of one subject's chest; lengths in mm, densities in HU."""

    lung_height_mm: float
    cavity_a_mm: float
    cavity_b_mm: float
    body_a_mm: float
    body_b_mm: float
    body_y_offset_mm: float
    fat_mm: float
    muscle_mm: float
    dome_right_mm: float
    dome_left_mm: float
    heart_center_mm: tuple[float, float, float]
    heart_axes_mm: tuple[float, float, float]
    carina_z_mm: float
    trachea_y_mm: float
    trachea_radius_mm: float
    spine_y_mm: float
    vertebra_radius_mm: float
    aorta_radius_mm: float
    rib_pitch_mm: float
    breasts: bool
    parenchyma_hu: float
    gravity_gradient_hu: float
    texture_sd_hu: float
    atelectasis_mm: float

    @property
    def aorta_descending_xy_mm(self) -> tuple[float, float]:
        """In-plane centre of the descending aorta, left of and before the spine."""
        return (
            0.22 * self.cavity_a_mm,
            self.spine_y_mm - self.vertebra_radius_mm - 0.2 * self.aorta_radius_mm,
        )

    @property
    def arch_z_mm(self) -> float:
        """Height of the aortic arch, just above the carina."""
        return self.carina_z_mm + 25.0


def sample_anatomy(
    sex: str, height_cm: float, weight_kg: float, rng: np.random.Generator
) -> AnatomyParams:
    """Draw chest dimensions that scale with height, sex and body-mass index.

    Args:
        sex: ``"M"`` or ``"F"``.
        height_cm: Standing height in cm.
        weight_kg: Body weight in kg; sets the subcutaneous fat thickness.
        rng: Random generator of the subject.

    Returns:
        The subject's anatomy parameters.
    """
    scale = height_cm / 175.0 * (1.0 if sex == "M" else 0.93)

    def jitter(low: float = 0.94, high: float = 1.06) -> float:
        return float(rng.uniform(low, high))

    bmi = weight_kg / (height_cm / 100.0) ** 2
    fat = float(np.clip(4.0 + 1.6 * (bmi - 18.0), 4.0, 50.0))
    muscle = 11.0 * scale
    cavity_a = 140.0 * scale * jitter()
    cavity_b = 96.0 * scale * jitter()
    posterior_extra = 22.0 * scale
    lung_height = 255.0 * scale * jitter(0.92, 1.08)
    dome_right = 75.0 * scale * jitter(0.85, 1.15)
    dome_left = dome_right - float(rng.uniform(8.0, 22.0))
    vertebra_radius = 19.0 * scale
    spine_y = cavity_b - 4.0 * scale
    trachea_radius = 8.5 * scale * jitter(0.9, 1.1)
    return AnatomyParams(
        lung_height_mm=lung_height,
        cavity_a_mm=cavity_a,
        cavity_b_mm=cavity_b,
        body_a_mm=cavity_a + 10.0 + muscle + fat,
        body_b_mm=cavity_b + 10.0 + muscle + fat + posterior_extra / 2.0,
        body_y_offset_mm=posterior_extra / 2.0,
        fat_mm=fat,
        muscle_mm=muscle,
        dome_right_mm=dome_right,
        dome_left_mm=dome_left,
        heart_center_mm=(
            0.22 * cavity_a,
            -0.38 * cavity_b,
            dome_left + 30.0 * scale,
        ),
        heart_axes_mm=(0.46 * cavity_a, 0.52 * cavity_b, 58.0 * scale),
        carina_z_mm=lung_height - 95.0 * scale * jitter(0.9, 1.1),
        trachea_y_mm=spine_y - vertebra_radius - trachea_radius - 14.0 * scale,
        trachea_radius_mm=trachea_radius,
        spine_y_mm=spine_y,
        vertebra_radius_mm=vertebra_radius,
        aorta_radius_mm=12.5 * scale * jitter(0.9, 1.15),
        rib_pitch_mm=26.0 * scale * jitter(0.95, 1.05),
        breasts=sex == "F",
        parenchyma_hu=float(rng.normal(-885.0, 12.0)),
        gravity_gradient_hu=float(rng.uniform(50.0, 100.0)),
        texture_sd_hu=float(rng.uniform(14.0, 22.0)),
        atelectasis_mm=float(rng.choice([0.0, rng.uniform(3.0, 12.0)], p=[0.4, 0.6])),
    )


def _cavity_scale(z: np.ndarray, params: AnatomyParams) -> np.ndarray:
    # The thoracic cage narrows by about 15 % from the lung base to the apex.
    return 1.0 - 0.15 * np.clip(z / params.lung_height_mm, 0.0, 1.2)


def _dome_mm(x: np.ndarray, y: np.ndarray, params: AnatomyParams) -> np.ndarray:
    """Return the diaphragm height (mm); dome tops sit in front of the lung centre."""
    side_height = np.where(x < 0, params.dome_right_mm, params.dome_left_mm)
    centre_x = np.where(x < 0, -0.5, 0.5) * params.cavity_a_mm
    u = (x - centre_x) / (0.62 * params.cavity_a_mm)
    v = (y + 0.2 * params.cavity_b_mm) / (1.15 * params.cavity_b_mm)
    return side_height * np.clip(1.0 - u * u - v * v, 0.0, 1.0)


def _heart_inside(x, y, z, params: AnatomyParams, margin_mm: float) -> np.ndarray:
    cx, cy, cz = params.heart_center_mm
    ax, ay, az = (axis + margin_mm for axis in params.heart_axes_mm)
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1.0


def lung_side(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, params: AnatomyParams
) -> np.ndarray:
    """Classify LPS points as right lung (1), left lung (2) or neither (0).

    Args:
        x, y, z: Broadcastable LPS coordinates in mm.
        params: Subject anatomy.

    Returns:
        uint8 array of the broadcast shape.
    """
    height = params.lung_height_mm
    cavity = _cavity_scale(z, params)
    a = params.cavity_a_mm * cavity
    b = params.cavity_b_mm * cavity

    # The apex is a dome: each lung's cross-section shrinks over the top 70 mm.
    taper_length = 70.0 * height / 245.0
    u = np.clip((z - (height - taper_length)) / taper_length, 0.0, 1.0)
    taper = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
    centre_x = np.where(x < 0, -0.5, 0.5) * a
    half_width = 0.56 * a * taper + 1e-3
    half_depth = 0.97 * b * np.sqrt(taper) + 1e-3
    centre_y = 0.08 * params.cavity_b_mm + 0.25 * b * u
    in_lobe = ((x - centre_x) / half_width) ** 2 + (
        (y - centre_y) / half_depth
    ) ** 2 <= 1
    in_cavity = (x / a) ** 2 + (y / b) ** 2 <= 1.0

    # The mediastinum widens in front, below the carina.
    below_carina = z < params.carina_z_mm
    anterior = np.clip(-y / params.cavity_b_mm, 0.0, 1.0)
    half_mediastinum = 16.0 + 14.0 * anterior * below_carina
    outside_mediastinum = np.abs(x - 6.0) >= half_mediastinum

    spine_clear = (
        x * x + (y - params.spine_y_mm) ** 2 >= (params.vertebra_radius_mm + 6.0) ** 2
    )
    aorta_x, aorta_y = params.aorta_descending_xy_mm
    aorta_clear = (x - aorta_x) ** 2 + (y - aorta_y) ** 2 >= (
        params.aorta_radius_mm + 3.0
    ) ** 2
    heart_clear = ~_heart_inside(x, y, z, params, margin_mm=4.0)
    above_dome = z > _dome_mm(x, y, params)

    inside = (
        in_lobe
        & in_cavity
        & outside_mediastinum
        & spine_clear
        & aorta_clear
        & heart_clear
        & above_dome
        & (z >= 0.0)
        & (z < height)
    )
    return np.where(inside, np.where(x < 0, RIGHT_LUNG, LEFT_LUNG), 0).astype(np.uint8)


def _paint(volume: np.ndarray, mask: np.ndarray, value: float) -> None:
    np.copyto(volume, np.float32(value), where=np.broadcast_to(mask, volume.shape))


def render_body(grid: Grid, params: AnatomyParams) -> tuple[np.ndarray, np.ndarray]:
    """Render everything except lung parenchyma, airways and pulmonary vessels.

    Args:
        grid: Canonical LPS grid.
        params: Subject anatomy.

    Returns:
        ``(hu, lung)``: float32 HU of ``grid.shape`` with lung voxels set to 0, and the
        uint8 lung label (1 right, 2 left).
    """
    x, y, z = grid.coordinates_mm()
    hu = np.full(grid.shape, HU["air"], dtype=np.float32)

    table_top = params.body_y_offset_mm + params.body_b_mm + 4.0
    table = (y >= table_top) & (y <= table_top + 12.0) & (np.abs(x) < 230.0)
    _paint(hu, table, HU["table"])

    by = y - params.body_y_offset_mm
    body = (x / params.body_a_mm) ** 2 + (by / params.body_b_mm) ** 2 <= 1.0
    _paint(hu, body, HU["fat"])
    if params.breasts:
        for side in (-1.0, 1.0):
            breast = (
                ((x - side * 0.5 * params.cavity_a_mm) / 60.0) ** 2
                + ((y + params.body_b_mm - params.body_y_offset_mm) / 40.0) ** 2
                + ((z - 0.45 * params.lung_height_mm) / 55.0) ** 2
            ) <= 1.0
            _paint(hu, breast, HU["breast"])

    inner_a = params.body_a_mm - params.fat_mm
    inner_b = params.body_b_mm - params.fat_mm
    _paint(hu, (x / inner_a) ** 2 + (by / inner_b) ** 2 <= 1.0, HU["muscle"])

    cavity = _cavity_scale(z, params)
    a = params.cavity_a_mm * cavity
    b = params.cavity_b_mm * cavity
    in_cage = (x / (a + 10.0)) ** 2 + (y / (b + 10.0)) ** 2 <= 1.0
    in_cavity = (x / a) ** 2 + (y / b) ** 2 <= 1.0
    # Ribs run obliquely: their anterior ends lie lower than their posterior ends.
    rib_phase = np.mod((z + 0.35 * y) / params.rib_pitch_mm, 1.0)
    ribs = in_cage & ~in_cavity & (rib_phase < 0.38) & (z > -40.0)
    _paint(hu, ribs, HU["rib"])

    sternum = (
        (np.abs(x) < 16.0)
        & (y > -b - 16.0)
        & (y < -b - 2.0)
        & (z > params.carina_z_mm - 160.0)
    )
    _paint(hu, sternum, HU["sternum"])

    _paint(hu, in_cavity, HU["mediastinal_fat"])
    _paint(hu, in_cavity & (z <= _dome_mm(x, y, params)), HU["abdomen"])
    _paint(hu, _heart_inside(x, y, z, params, margin_mm=0.0), HU["blood"])
    _render_spine(hu, x, y, z, params)
    _render_aorta(hu, grid, params)

    lung = np.zeros(grid.shape, dtype=np.uint8)
    box = lung_box(grid, params)
    box_x, box_y, box_z = grid.crop(box).coordinates_mm()
    lung[box] = lung_side(box_x, box_y, box_z, params)
    hu[lung > 0] = 0.0
    return hu, lung


def lung_box(grid: Grid, params: AnatomyParams) -> tuple[slice, slice, slice]:
    """Return index slices of the thoracic cavity in x and y, all of z.

    The box contains both lungs, the mediastinum and the trachea, so lung-related work
    can run on this crop alone.
    """
    margin = 4.0
    return grid.box_indices(
        (-params.cavity_a_mm - margin, -params.cavity_b_mm - margin, -np.inf),
        (params.cavity_a_mm + margin, params.cavity_b_mm + margin, np.inf),
    )


def _render_spine(hu, x, y, z, params: AnatomyParams) -> None:
    radius = params.vertebra_radius_mm
    radial = np.sqrt(x * x + (y - params.spine_y_mm) ** 2)
    _paint(hu, radial <= radius, HU["cortical_bone"])
    _paint(hu, radial <= radius - 2.5, HU["vertebral_body"])
    disc = np.mod(z / 28.0, 1.0) < 0.2
    _paint(hu, (radial <= radius) & disc, HU["disc"])

    canal_y = params.spine_y_mm + radius + 9.0
    arch = (np.abs(x) < 20.0) & (y > params.spine_y_mm + radius) & (y < canal_y + 22.0)
    _paint(hu, arch & ~disc, HU["posterior_arch"])
    canal = x * x + (y - canal_y) ** 2 <= 8.0**2
    _paint(hu, canal, HU["spinal_canal"])


def _render_aorta(hu: np.ndarray, grid: Grid, params: AnatomyParams) -> None:
    descending_x, descending_y = params.aorta_descending_xy_mm
    ascending = np.array([-0.05 * params.cavity_a_mm, -0.3 * params.cavity_b_mm])
    heart_top = params.heart_center_mm[2] + 0.6 * params.heart_axes_mm[2]
    arch_z = params.arch_z_mm
    starts = np.array(
        [
            [descending_x, descending_y, -60.0],
            [ascending[0], ascending[1], heart_top],
            [ascending[0], ascending[1], arch_z],
        ]
    )
    ends = np.array(
        [
            [descending_x, descending_y, arch_z],
            [ascending[0], ascending[1], arch_z],
            [descending_x, descending_y, arch_z],
        ]
    )
    radii = np.full(3, params.aorta_radius_mm)
    occupancy = np.zeros(grid.shape, dtype=np.float32)
    render_capsules(grid, starts, ends, radii, occupancy)
    hu += occupancy * (np.float32(HU["blood"]) - hu)
