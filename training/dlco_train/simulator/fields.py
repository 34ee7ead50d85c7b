"""Grid helpers: smooth random fields, separable resampling, capsule and point rendering.

Everything random that must look the same on every scan of one subject is drawn on a
subject-level reference grid and resampled to each scan's grid with
:func:`resample_linear`, so two scans with different voxel sizes show the same anatomy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .geometry import Grid

__all__ = [
    "gaussian_random_field",
    "render_capsules",
    "resample_linear",
    "splat_volumes",
]


def gaussian_random_field(
    grid: Grid, correlation_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Draw a zero-mean, unit-variance Gaussian random field on a grid.

    Args:
        grid: Grid of the field.
        correlation_mm: Standard deviation (mm) of the Gaussian smoothing kernel.
        rng: Random generator.

    Returns:
        float32 array of ``grid.shape``.
    """
    white = rng.standard_normal(grid.shape, dtype=np.float32)
    sigma = [correlation_mm / spacing for spacing in grid.spacing_mm]
    field = ndimage.gaussian_filter(white, sigma=sigma, mode="reflect")
    field -= field.mean()
    field /= max(float(field.std()), 1e-6)
    return field


def _axis_weights(
    source: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    step = float(source[1] - source[0]) if source.size > 1 else 1.0
    position = (target.astype(np.float64) - float(source[0])) / step
    position = np.clip(position, 0.0, source.size - 1.0)
    lower = np.minimum(np.floor(position).astype(np.intp), max(source.size - 2, 0))
    upper = np.minimum(lower + 1, source.size - 1)
    weight = (position - lower).astype(np.float32)
    return lower, upper, weight


def resample_linear(volume: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Resample a volume between two axis-aligned grids by trilinear interpolation.

    The interpolation is done one axis at a time, so the cost is a few passes over the
    target grid. Points outside the source grid take the nearest edge value.

    Args:
        volume: Array of ``source.shape``.
        source: Grid of ``volume``.
        target: Grid to sample at; same orientation as ``source``.

    Returns:
        float32 array of ``target.shape``.
    """
    result = volume.astype(np.float32, copy=False)
    for axis in range(3):
        lower, upper, weight = _axis_weights(source.axis_mm(axis), target.axis_mm(axis))
        shape = [1, 1, 1]
        shape[axis] = weight.size
        weight = weight.reshape(shape)
        low_values = np.take(result, lower, axis=axis)
        high_values = np.take(result, upper, axis=axis)
        result = low_values + weight * (high_values - low_values)
    return result


def render_capsules(
    grid: Grid,
    starts_mm: np.ndarray,
    ends_mm: np.ndarray,
    radii_mm: np.ndarray,
    out: np.ndarray,
) -> None:
    """Render capsules (cylinders with hemispherical ends) as soft occupancy.

    Occupancy is 1 inside, 0 outside and ramps linearly over one voxel at the surface, an
    approximation of the partial-volume fraction. ``out`` keeps the maximum over capsules.
    A sphere is a capsule whose start equals its end.

    Args:
        grid: Target grid.
        starts_mm: (N, 3) LPS start points in mm.
        ends_mm: (N, 3) LPS end points in mm.
        radii_mm: (N,) radii in mm.
        out: float32 array of ``grid.shape``, updated in place.
    """
    spacing = np.asarray(grid.spacing_mm, dtype=np.float64)
    origin = np.asarray(grid.origin_mm, dtype=np.float64)
    shape = np.asarray(grid.shape)
    ramp_mm = float(spacing.mean())
    for start, end, radius in zip(starts_mm, ends_mm, radii_mm):
        low = np.minimum(start, end) - radius - ramp_mm
        high = np.maximum(start, end) + radius + ramp_mm
        low_index = np.maximum(np.floor((low - origin) / spacing).astype(int), 0)
        high_index = np.minimum(np.ceil((high - origin) / spacing).astype(int) + 1, shape)
        if np.any(high_index <= low_index):
            continue
        axes = [
            (origin[a] + np.arange(low_index[a], high_index[a]) * spacing[a]).astype(
                np.float32
            )
            for a in range(3)
        ]
        x = axes[0][:, None, None] - np.float32(start[0])
        y = axes[1][None, :, None] - np.float32(start[1])
        z = axes[2][None, None, :] - np.float32(start[2])
        direction = (end - start).astype(np.float32)
        length_squared = float(direction @ direction)
        if length_squared > 0.0:
            t = (x * direction[0] + y * direction[1] + z * direction[2]) / length_squared
            t = np.clip(t, 0.0, 1.0)
            dx = x - t * direction[0]
            dy = y - t * direction[1]
            dz = z - t * direction[2]
        else:
            dx, dy, dz = x, y, z
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)
        occupancy = np.clip((radius - distance) / ramp_mm + 0.5, 0.0, 1.0)
        view = out[
            low_index[0] : high_index[0],
            low_index[1] : high_index[1],
            low_index[2] : high_index[2],
        ]
        np.maximum(view, occupancy, out=view)


def splat_volumes(
    grid: Grid, points_mm: np.ndarray, volumes_ml: np.ndarray, blur_mm: float
) -> np.ndarray:
    """Deposit point volumes on a grid and return the occupied volume fraction.

    Each point adds its volume to the voxel that contains it, and a Gaussian blur of
    ``blur_mm`` spreads it, which keeps the total volume. This renders structures smaller
    than a voxel (small vessels, lucencies) as the partial-volume fraction they occupy.

    Args:
        grid: Target grid.
        points_mm: (N, 3) LPS points in mm.
        volumes_ml: (N,) volume of each point in mL.
        blur_mm: Standard deviation of the spreading Gaussian in mm.

    Returns:
        float32 volume fraction of ``grid.shape``, clipped to [0, 1].
    """
    fraction = np.zeros(grid.shape, dtype=np.float32)
    if len(points_mm) == 0:
        return fraction
    spacing = np.asarray(grid.spacing_mm)
    index = np.rint((points_mm - np.asarray(grid.origin_mm)) / spacing).astype(np.intp)
    inside = np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=1)
    flat = np.ravel_multi_index(tuple(index[inside].T), grid.shape)
    totals = np.bincount(
        flat, weights=volumes_ml[inside], minlength=fraction.size
    ).astype(np.float32)
    fraction = totals.reshape(grid.shape) / np.float32(grid.voxel_volume_ml)
    if blur_mm > 0:
        fraction = ndimage.gaussian_filter(
            fraction, sigma=[blur_mm / s for s in grid.spacing_mm], mode="constant"
        )
    return np.clip(fraction, 0.0, 1.0)
