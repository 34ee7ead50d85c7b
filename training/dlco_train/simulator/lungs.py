"""Lung maps shared by lesions and physiology: side, pleural distance and zones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .fields import resample_linear
from .geometry import Grid

__all__ = ["LungBounds", "LungContext", "build_context", "lung_bounds"]


@dataclass(frozen=True)
class LungBounds:
    """Extent of the lungs used for zone coordinates, LPS mm.

    Attributes:
        y_range_mm: Most anterior and most posterior lung y, per side (1 right, 2 left).
        z_range_mm: Lowest and highest lung z, per side.
    """

    y_range_mm: dict[int, tuple[float, float]]
    z_range_mm: dict[int, tuple[float, float]]


def lung_bounds(grid: Grid, lung: np.ndarray) -> LungBounds:
    """Measure each lung's y and z extent on a grid.

    Args:
        grid: Grid of ``lung``.
        lung: uint8 label, 1 right and 2 left lung.

    Returns:
        The extents.

    Raises:
        ValueError: If a lung label is absent.
    """
    y_range, z_range = {}, {}
    for side in (1, 2):
        present = lung == side
        if not present.any():
            raise ValueError(f"lung label {side} is absent from the lung mask.")
        y_index = np.flatnonzero(present.any(axis=(0, 2)))
        z_index = np.flatnonzero(present.any(axis=(0, 1)))
        y_axis, z_axis = grid.axis_mm(1), grid.axis_mm(2)
        y_range[side] = (float(y_axis[y_index[0]]), float(y_axis[y_index[-1]]))
        z_range[side] = (float(z_axis[z_index[0]]), float(z_axis[z_index[-1]]))
    return LungBounds(y_range, z_range)


@dataclass
class LungContext:
    """Per-voxel lung maps on one grid.

    Attributes:
        grid: The grid.
        lung: uint8 label, 0 outside, 1 right lung, 2 left lung.
        pleura_mm: float32 distance to the nearest non-lung voxel in mm (0 outside).
        dependency: float32 position from the most anterior (0) to the most posterior
            (1) lung point of the same side. Posterior is dependent in a supine subject.
        basal: float32 position from the apex (0) to the lowest lung point (1).
    """

    grid: Grid
    lung: np.ndarray
    pleura_mm: np.ndarray
    dependency: np.ndarray
    basal: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """Boolean lung mask."""
        return self.lung > 0


def pleural_distance_mm(grid: Grid, lung: np.ndarray) -> np.ndarray:
    """Compute each lung voxel's distance (mm) to the nearest non-lung voxel."""
    return ndimage.distance_transform_edt(lung > 0, sampling=grid.spacing_mm).astype(
        np.float32
    )


def build_context(
    grid: Grid,
    lung: np.ndarray,
    bounds: LungBounds,
    pleura_source: tuple[Grid, np.ndarray] | None = None,
) -> LungContext:
    """Build the lung maps on a grid.

    Args:
        grid: Target grid.
        lung: uint8 lung label on ``grid``.
        bounds: Lung extents that define the zone coordinates; pass the subject's
            reference bounds so every scan of a subject gets the same zones.
        pleura_source: Grid and pleural distance to resample from; ``None`` computes
            the distance on ``grid`` itself.

    Returns:
        The context.
    """
    if pleura_source is None:
        pleura = pleural_distance_mm(grid, lung)
    else:
        pleura = resample_linear(pleura_source[1], pleura_source[0], grid)
        pleura *= lung > 0
    _, y, z = grid.coordinates_mm()
    dependency = np.zeros(grid.shape, dtype=np.float32)
    basal = np.zeros(grid.shape, dtype=np.float32)
    for side in (1, 2):
        y_low, y_high = bounds.y_range_mm[side]
        z_low, z_high = bounds.z_range_mm[side]
        side_mask = lung == side
        side_dependency = np.broadcast_to(
            np.clip((y - y_low) / max(y_high - y_low, 1.0), 0.0, 1.0), grid.shape
        )
        side_basal = np.broadcast_to(
            np.clip((z_high - z) / max(z_high - z_low, 1.0), 0.0, 1.0), grid.shape
        )
        dependency[side_mask] = side_dependency[side_mask]
        basal[side_mask] = side_basal[side_mask]
    return LungContext(grid, lung, pleura, dependency, basal)
