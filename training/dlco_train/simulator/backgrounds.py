"""Real CT backgrounds: lesions inserted into a real chest CT with its lung mask.

The real scan supplies the texture, anatomy and noise; the simulator adds lesions inside
the given lung mask and computes the physiology on that mask. Volumes are read at run
time from a directory the user names and never copied into the repository.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fields import gaussian_random_field
from .geometry import LPS_TO_RAS, Grid, reorient
from .lungs import build_context, lung_bounds
from .nrrd import read_nrrd
from .pathology import LUCENT_HU, WALL_HU, plan_lesions, render_lesions
from .phantom import ScanResult, Subject
from .physiology import conductance_maps, measure_dlco, measurement_rng

__all__ = [
    "RealBackground",
    "discover_backgrounds",
    "load_background",
    "render_real_scan",
]

logger = logging.getLogger(__name__)

_CT_PATTERN = re.compile(r"^ct.*\.(nrrd|nhdr|nii|nii\.gz)$", re.IGNORECASE)
_MASK_PATTERN = re.compile(
    r"^(wholelung|lung[-_]?mask|lungmask).*\.(nrrd|nhdr|nii|nii\.gz)$", re.IGNORECASE
)

ALVEOLAR_FULL_HU = -700.0
"""HU at or below which a real background's lung voxel is fully gas-exchanging."""

ALVEOLAR_NONE_HU = -200.0
"""Lung voxels at or above this HU (vessels, airway walls) exchange no gas."""


@dataclass
class RealBackground:
    """A real CT and its lung mask on a canonical LPS grid.

    Attributes:
        name: Folder name of the source, used in the scanner profile column.
        ct: float32 HU.
        lung: uint8 label, 1 right lung, 2 left lung.
        grid: Canonical LPS grid of both arrays.
    """

    name: str
    ct: np.ndarray
    lung: np.ndarray
    grid: Grid


def _read_volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    name = path.name.lower()
    if name.endswith((".nrrd", ".nhdr")):
        return read_nrrd(path)
    import nibabel as nib

    image = nib.load(str(path))
    return np.asanyarray(image.dataobj), LPS_TO_RAS @ image.affine


def _to_canonical(
    volumes: list[np.ndarray], affine_lps: np.ndarray, source: Path
) -> tuple[list[np.ndarray], Grid]:
    """Permute and flip axes so the affine is diagonal and positive (axes L, P, S)."""
    rotation = affine_lps[:3, :3]
    spacing = np.linalg.norm(rotation, axis=0)
    directions = rotation / spacing
    world_axis = np.argmax(np.abs(directions), axis=0)
    if sorted(world_axis) != [0, 1, 2] or np.any(
        np.abs(directions[world_axis, [0, 1, 2]]) < 0.999
    ):
        # NOTE: oblique scans would need resampling, which this loader does not do.
        raise ValueError(
            f"{source}: the volume is oblique (direction cosines "
            f"{directions.round(3).tolist()}); only axis-aligned backgrounds are "
            "supported. Resample it to an axis-aligned grid."
        )
    axis_order = [int(np.flatnonzero(world_axis == world)[0]) for world in range(3)]
    signs = [np.sign(directions[world, axis_order[world]]) for world in range(3)]
    moved, affine = reorient(
        volumes, affine_lps, axis_order, [sign < 0 for sign in signs]
    )
    grid = Grid(
        tuple(int(n) for n in moved[0].shape),
        tuple(float(affine[axis, axis]) for axis in range(3)),
        tuple(float(value) for value in affine[:3, 3]),
    )
    return moved, grid


def _split_sides(lung: np.ndarray) -> np.ndarray:
    """Label right lung 1 and left lung 2, split at the sagittal plane of least lung."""
    columns = lung.sum(axis=(1, 2))
    nx = lung.shape[0]
    middle = slice(nx // 3, max(2 * nx // 3, nx // 3 + 1))
    split = middle.start + int(np.argmin(columns[middle]))
    sides = np.zeros(lung.shape, dtype=np.uint8)
    # Canonical axis 0 points to the patient's left, so low indices are the right lung.
    sides[:split][lung[:split]] = 1
    sides[split:][lung[split:]] = 2
    return sides


def load_background(ct_path: str | Path, mask_path: str | Path) -> RealBackground:
    """Load a real CT and its binary lung mask.

    Args:
        ct_path: CT in HU, NRRD or NIfTI.
        mask_path: Lung mask on the same grid; any non-zero value is lung.

    Returns:
        The background on a canonical LPS grid.

    Raises:
        ValueError: If the grids differ, the volume is oblique or the mask is empty.
    """
    ct_path, mask_path = Path(ct_path), Path(mask_path)
    ct, ct_affine = _read_volume(ct_path)
    mask, mask_affine = _read_volume(mask_path)
    if ct.shape != mask.shape or not np.allclose(ct_affine, mask_affine, atol=1e-3):
        raise ValueError(
            f"{mask_path} does not share the grid of {ct_path} "
            f"(shapes {mask.shape} and {ct.shape}); pass the mask made for this CT."
        )
    (ct, mask), grid = _to_canonical(
        [ct.astype(np.float32), mask != 0], ct_affine, ct_path
    )
    if not mask.any():
        raise ValueError(f"{mask_path} contains no lung voxel.")
    return RealBackground(ct_path.parent.name, ct, _split_sides(mask), grid)


def discover_backgrounds(directory: str | Path) -> list[tuple[Path, Path]]:
    """Find CT and lung-mask pairs below a directory.

    A folder contributes a pair when it contains exactly one file named ``ct*`` and one
    named ``wholeLung*``, ``lung_mask*``, ``lung-mask*`` or ``lungmask*`` (NRRD or
    NIfTI).

    Args:
        directory: Root folder to search recursively.

    Returns:
        Sorted ``(ct_path, mask_path)`` pairs.

    Raises:
        FileNotFoundError: If the directory does not exist.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"real-background directory {root} does not exist.")
    pairs = []
    for folder in sorted([root, *[path for path in root.rglob("*") if path.is_dir()]]):
        files = [path for path in folder.iterdir() if path.is_file()]
        cts = [path for path in files if _CT_PATTERN.match(path.name)]
        masks = [path for path in files if _MASK_PATTERN.match(path.name)]
        if len(cts) == 1 and len(masks) == 1:
            pairs.append((cts[0], masks[0]))
        elif cts or masks:
            logger.warning(
                "Skipping %s: found %d CT and %d lung-mask files, expected one each.",
                folder,
                len(cts),
                len(masks),
            )
    return pairs


def render_real_scan(
    background: RealBackground,
    subject: Subject,
    predicted_dlco: float,
    rng: np.random.Generator,
) -> ScanResult:
    """Insert a subject's lesions into a real background and compute its truth.

    Vessel pruning cannot be drawn into a real scan, so pulmonary vascular disease only
    lowers conductance there, leaving the CT unchanged. Dependent atelectasis is not
    added because the real scan already has its own dependent density.

    Args:
        background: The real CT.
        subject: Subject whose phenotype, severity and physiology are used.
        predicted_dlco: GLI predicted DLCO (ml/min/mmHg).
        rng: Random generator of the subject and scan.

    Returns:
        The scan on the background's canonical grid.
    """
    grid = background.grid
    lung = background.lung
    context = build_context(grid, lung, lung_bounds(grid, lung))
    fields = {
        "patchy": gaussian_random_field(grid, 15.0, rng),
        "reticular": gaussian_random_field(grid, 3.0, rng),
    }
    plan = plan_lesions(subject.phenotype, subject.severity, context, rng)
    lesions = render_lesions(plan, context, background.ct, fields, atelectasis_mm=0.0)

    mask = context.mask
    hu = background.ct + lesions.hu_delta * mask
    hu += lesions.lucent_fraction * (np.float32(LUCENT_HU) - hu)
    hu += lesions.wall_fraction * (np.float32(WALL_HU) - hu)
    changed = np.clip(np.rint(hu), -1024, 3071)
    ct = np.where(mask, changed, background.ct).astype(np.int16)

    span = ALVEOLAR_NONE_HU - ALVEOLAR_FULL_HU
    alveolar = np.clip((ALVEOLAR_NONE_HU - background.ct) / span, 0.0, 1.0) * mask
    maps = conductance_maps(
        context, alveolar, lesions.conductance_factor, predicted_dlco
    )
    dlco = measure_dlco(
        maps,
        predicted_dlco,
        subject.sex,
        subject.hb_g_dl,
        subject.cohb_percent,
        measurement_rng(subject.seed),
    )
    return ScanResult(
        ct=ct,
        deficit=maps.deficit,
        healthy=maps.healthy,
        labels=lesions.labels,
        affine_ras=grid.affine_ras(),
        dlco=dlco,
        profile_name=f"real:{background.name}",
        kernel="as-acquired",
        # NOTE: the file's slice thickness is not read, so the z spacing is reported.
        slice_thickness_mm=float(grid.spacing_mm[2]),
    )
