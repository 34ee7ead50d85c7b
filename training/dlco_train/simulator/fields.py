"""Grid helpers: random fields, trilinear resampling, capsule and point rendering.

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


def resample_linear(
    volume: np.ndarray, source: Grid, target: Grid, mask: np.ndarray | None = None
) -> np.ndarray:
    """Resample a volume between two axis-aligned grids by trilinear interpolation.

    Points outside the source grid take the nearest edge value.

    Args:
        volume: Array of ``source.shape``.
        source: Grid of ``volume``.
        target: Grid to sample at; same orientation as ``source``.
        mask: Optional boolean array of ``target.shape``; only these voxels are
            computed and the others are 0, which saves time for lung-only fields.

    Returns:
        float32 array of ``target.shape``.
    """
    volume = volume.astype(np.float32, copy=False)
    if mask is None:
        # Separable passes: a few sweeps over the target grid.
        result = volume
        for axis in range(3):
            lower, upper, weight = _axis_weights(
                source.axis_mm(axis), target.axis_mm(axis)
            )
            shape = [1, 1, 1]
            shape[axis] = weight.size
            weight = weight.reshape(shape)
            low_values = np.take(result, lower, axis=axis)
            high_values = np.take(result, upper, axis=axis)
            result = low_values + weight * (high_values - low_values)
        return result

    indices = np.nonzero(mask)
    per_axis = [
        _axis_weights(source.axis_mm(axis), target.axis_mm(axis)) for axis in range(3)
    ]
    lows = [per_axis[axis][0][indices[axis]] for axis in range(3)]
    highs = [per_axis[axis][1][indices[axis]] for axis in range(3)]
    weights = [per_axis[axis][2][indices[axis]] for axis in range(3)]
    values = np.zeros(indices[0].size, dtype=np.float32)
    for corner in range(8):
        picks = [(corner >> axis) & 1 for axis in range(3)]
        index = tuple(highs[a] if picks[a] else lows[a] for a in range(3))
        weight = np.ones_like(values)
        for axis in range(3):
            weight *= weights[axis] if picks[axis] else 1.0 - weights[axis]
        values += weight * volume[index]
    result = np.zeros(target.shape, dtype=np.float32)
    result[indices] = values
    return result


def render_capsules(
    grid: Grid,
    starts_mm: np.ndarray,
    ends_mm: np.ndarray,
    radii_mm: np.ndarray,
    out: np.ndarray,
) -> None:
    """Render capsules (cylinders with hemispherical ends) as soft occupancy.

    Occupancy is 1 inside and 0 outside, and it ramps linearly over one voxel at the
    surface to approximate the partial-volume fraction. ``out`` keeps the maximum over
    capsules.
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
        high_index = np.minimum(
            np.ceil((high - origin) / spacing).astype(int) + 1, shape
        )
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
            t = (
                x * direction[0] + y * direction[1] + z * direction[2]
            ) / length_squared
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

    Each point shares its volume among its 8 neighbouring voxels (trilinear weights).
    An optional Gaussian blur of ``blur_mm`` spreads it further. Both steps keep the
    total volume. This renders structures smaller
    than a voxel (small vessels, lucencies) as the partial-volume fraction they occupy.

    Args:
        grid: Target grid.
        points_mm: (N, 3) LPS points in mm.
        volumes_ml: (N,) volume of each point in mL.
        blur_mm: Standard deviation of the spreading Gaussian in mm; 0 for none.

    Returns:
        float32 volume fraction of ``grid.shape``, clipped to [0, 1].
    """
    fraction = np.zeros(grid.shape, dtype=np.float32)
    if len(points_mm) == 0:
        return fraction
    spacing = np.asarray(grid.spacing_mm)
    position = (points_mm - np.asarray(grid.origin_mm)) / spacing
    lower = np.floor(position).astype(np.intp)
    weight_high = position - lower
    flats, shares = [], []
    # Trilinear splatting: each point shares its volume among the 8 nearest voxels.
    for corner in range(8):
        picks = np.array([(corner >> axis) & 1 for axis in range(3)])
        index = lower + picks
        weight = np.prod(np.where(picks, weight_high, 1.0 - weight_high), axis=1)
        inside = np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=1)
        flats.append(np.ravel_multi_index(tuple(index[inside].T), grid.shape))
        shares.append((volumes_ml * weight)[inside])
    totals = np.bincount(
        np.concatenate(flats), weights=np.concatenate(shares), minlength=fraction.size
    )
    fraction = (totals / grid.voxel_volume_ml).astype(np.float32).reshape(grid.shape)
    if blur_mm > 0:
        fraction = ndimage.gaussian_filter(
            fraction, sigma=[blur_mm / s for s in grid.spacing_mm], mode="constant"
        )
    return np.clip(fraction, 0.0, 1.0)
