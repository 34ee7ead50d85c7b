"""Voxel grids, LPS/RAS affines, storage orientations and NIfTI writing.

The simulator builds every volume on a canonical grid whose array axes ``(i, j, k)``
point to the patient's left, posterior and superior (LPS, as DICOM and ITK use). NIfTI
stores a RAS affine, so the LPS affine is converted only when a file is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "LPS_TO_RAS",
    "Grid",
    "reorient",
    "write_nifti",
]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""4x4 matrix that maps homogeneous LPS coordinates to RAS and back."""


@dataclass(frozen=True)
class Grid:
    """Axis-aligned canonical grid, array axes (i, j, k) towards L, P and S.

    Attributes:
        shape: Voxel counts ``(nx, ny, nz)``.
        spacing_mm: Voxel size ``(dx, dy, dz)`` in mm.
        origin_mm: LPS position of voxel ``(0, 0, 0)``'s centre in mm.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    def axis_mm(self, axis: int) -> np.ndarray:
        """Return the LPS coordinate (mm, float32) of voxel centres along one axis."""
        return (
            self.origin_mm[axis]
            + np.arange(self.shape[axis], dtype=np.float64) * self.spacing_mm[axis]
        ).astype(np.float32)

    def coordinates_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return x, y, z coordinates (mm) shaped (nx,1,1), (1,ny,1), (1,1,nz)."""
        return (
            self.axis_mm(0)[:, None, None],
            self.axis_mm(1)[None, :, None],
            self.axis_mm(2)[None, None, :],
        )

    def affine_lps(self) -> np.ndarray:
        """Return the 4x4 affine from voxel index to LPS mm."""
        affine = np.diag([*self.spacing_mm, 1.0])
        affine[:3, 3] = self.origin_mm
        return affine

    def affine_ras(self) -> np.ndarray:
        """Return the 4x4 affine from voxel index to RAS mm, as NIfTI stores it."""
        return LPS_TO_RAS @ self.affine_lps()

    def box_indices(
        self, low_mm: Sequence[float], high_mm: Sequence[float]
    ) -> tuple[slice, slice, slice]:
        """Return the index slices of the voxels whose centres lie inside an LPS box.

        Args:
            low_mm: Lowest (x, y, z) corner in mm; infinite values are allowed.
            high_mm: Highest (x, y, z) corner in mm; infinite values are allowed.

        Returns:
            One slice per axis, clipped to the grid (possibly empty).
        """
        slices = []
        for axis in range(3):
            spacing = self.spacing_mm[axis]
            limit = self.shape[axis] + 1.0
            start_position = (low_mm[axis] - self.origin_mm[axis]) / spacing
            stop_position = (high_mm[axis] - self.origin_mm[axis]) / spacing
            start = int(np.ceil(np.clip(start_position, -1.0, limit)))
            stop = int(np.floor(np.clip(stop_position, -1.0, limit))) + 1
            start = min(max(start, 0), self.shape[axis])
            stop = min(max(stop, start), self.shape[axis])
            slices.append(slice(start, stop))
        return tuple(slices)

    def crop(self, box: tuple[slice, slice, slice]) -> "Grid":
        """Return the sub-grid covered by index slices (as from :meth:`box_indices`)."""
        shape = tuple(part.stop - part.start for part in box)
        origin = tuple(
            self.origin_mm[axis] + box[axis].start * self.spacing_mm[axis]
            for axis in range(3)
        )
        return Grid(shape, self.spacing_mm, origin)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL."""
        return float(np.prod(self.spacing_mm)) / 1000.0


def reorient(
    volumes: Sequence[np.ndarray],
    affine: np.ndarray,
    axis_order: Sequence[int],
    flips: Sequence[bool],
) -> tuple[list[np.ndarray], np.ndarray]:
    """Store volumes with permuted and flipped axes, keeping their physical position.

    Output axis ``n`` is input axis ``axis_order[n]``, reversed where ``flips[n]``. The
    returned affine maps the new indices to the same world points as ``affine`` mapped
    the old ones, so a reader that applies the affine gets the same anatomy.

    Args:
        volumes: 3-D arrays of equal shape.
        affine: 4x4 voxel-to-world affine of the inputs (any world convention).
        axis_order: Permutation of ``(0, 1, 2)``.
        flips: Three booleans, one per output axis.

    Returns:
        The reoriented arrays (C-contiguous copies) and their affine.

    Raises:
        ValueError: If ``axis_order`` is not a permutation or the shapes differ.
    """
    if sorted(axis_order) != [0, 1, 2] or len(flips) != 3:
        raise ValueError(
            f"axis_order must be a permutation of (0, 1, 2) and flips 3 booleans, "
            f"received {tuple(axis_order)} and {tuple(flips)}."
        )
    shapes = {volume.shape for volume in volumes}
    if len(shapes) > 1:
        raise ValueError(f"volumes must share one shape, received {sorted(shapes)}.")
    old_shape = volumes[0].shape

    # index_map maps a new homogeneous index to the old one: old[axis_order[n]] is
    # new[n], or (size - 1 - new[n]) on a flipped axis.
    index_map = np.zeros((4, 4))
    index_map[3, 3] = 1.0
    for new_axis, old_axis in enumerate(axis_order):
        if flips[new_axis]:
            index_map[old_axis, new_axis] = -1.0
            index_map[old_axis, 3] = old_shape[old_axis] - 1
        else:
            index_map[old_axis, new_axis] = 1.0

    outputs = []
    for volume in volumes:
        moved = np.transpose(volume, axis_order)
        flip_axes = tuple(axis for axis, flip in enumerate(flips) if flip)
        if flip_axes:
            moved = np.flip(moved, axis=flip_axes)
        outputs.append(np.ascontiguousarray(moved))
    return outputs, affine @ index_map


def write_nifti(
    path: str | Path,
    data: np.ndarray,
    affine_ras: np.ndarray,
    *,
    intent_name: str = "",
    unit_description: str = "",
) -> None:
    """Write a NIfTI-1 file with the affine as both sform and qform (code 1, scanner).

    Args:
        path: Output file; ``.nii.gz`` compresses.
        data: 3-D array; its dtype is stored as is.
        affine_ras: 4x4 voxel-to-RAS affine in mm.
        intent_name: Short name stored in the header's intent_name (max 16 bytes).
        unit_description: Stored in the header's ``descrip`` field (max 80 bytes).
    """
    import nibabel as nib

    image = nib.Nifti1Image(data, affine_ras)
    image.header.set_xyzt_units(xyz="mm")
    image.set_sform(affine_ras, code=1)
    image.set_qform(affine_ras, code=1)
    if intent_name:
        image.header.set_intent("estimate", name=intent_name[:16])
    if unit_description:
        image.header["descrip"] = unit_description[:80].encode("ascii")
    nib.save(image, str(path))
