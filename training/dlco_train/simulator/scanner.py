"""Named scanner profiles and the acquisition model that turns a phantom into a CT.

The acquisition averages thin sub-slices into each reconstructed slice, which gives
partial volume along z. It then adds white noise and applies the reconstruction kernel
in-plane, so the kernel shapes the noise, and pads outside the reconstruction circle
with -3024 HU. The
arrays are stored in the profile's axis order. The profiles are invented for the
simulator and name no vendor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .geometry import Grid

__all__ = [
    "DEFAULT_TEST_PROFILES",
    "KERNELS",
    "OUTSIDE_FOV_HU",
    "PROFILES",
    "ScannerProfile",
    "acquire_ct",
    "pool_labels",
    "pool_sum",
    "scan_grids",
]

OUTSIDE_FOV_HU = -3024
"""Value stored outside the reconstruction circle, as many scanners pad."""

MAX_SUBSLICE_MM = 1.5
"""Largest sub-slice spacing used to model partial volume inside a thick slice."""


@dataclass(frozen=True)
class ScannerProfile:
    """Acquisition and storage settings of one simulated scanner protocol.

    Attributes:
        name: Profile name written to the manifest.
        kernel: ``smooth``, ``standard`` or ``sharp`` reconstruction kernel.
        slice_thickness_mm: Reconstructed slice thickness; slices are contiguous, so
            this is also the slice spacing.
        pixel_mm: In-plane pixel spacing.
        matrix: In-plane matrix size (square).
        noise_hu: Noise standard deviation after the kernel, HU.
        fov_mm: Reconstruction circle diameter; ``None`` is the full matrix width.
        axis_order: Stored axis order as a permutation of the canonical (L, P, S) axes.
        flips: Whether each stored axis is reversed.
    """

    name: str
    kernel: str
    slice_thickness_mm: float
    pixel_mm: float
    matrix: int
    noise_hu: float
    fov_mm: float | None = None
    axis_order: tuple[int, int, int] = (0, 1, 2)
    flips: tuple[bool, bool, bool] = (False, False, False)


PROFILES = {
    profile.name: profile
    for profile in (
        ScannerProfile("alpha-standard-1.25", "standard", 1.25, 1.5, 256, 20.0),
        ScannerProfile("alpha-sharp-1.0", "sharp", 1.0, 1.45, 256, 32.0),
        ScannerProfile("beta-smooth-2.5", "smooth", 2.5, 1.5, 256, 12.0),
        ScannerProfile("beta-thick-5.0", "standard", 5.0, 1.6, 256, 9.0),
        ScannerProfile("gamma-lowdose-2.0", "smooth", 2.0, 1.5, 256, 40.0),
        ScannerProfile(
            "gamma-tightfov-1.5", "standard", 1.5, 1.25, 256, 24.0, fov_mm=300.0
        ),
        ScannerProfile(
            "delta-permuted-3.0",
            "sharp",
            3.0,
            1.5,
            256,
            26.0,
            axis_order=(2, 0, 1),
            flips=(True, False, True),
        ),
        ScannerProfile(
            "delta-thin-0.625",
            "sharp",
            0.625,
            1.5,
            256,
            45.0,
            flips=(True, True, False),
        ),
    )
}
"""Scanner profiles by name."""

DEFAULT_TEST_PROFILES = ("delta-permuted-3.0", "delta-thin-0.625")
"""Profiles held out of train and val by default (the scanner-shift subset)."""


def scan_grids(
    profile: ScannerProfile,
    centre_xy_mm: tuple[float, float],
    z_range_mm: tuple[float, float],
) -> tuple[Grid, Grid, int]:
    """Build the stored grid and the finer sub-slice grid of one scan.

    Args:
        profile: Scanner profile.
        centre_xy_mm: LPS in-plane centre of the reconstruction.
        z_range_mm: Lowest and highest z (mm) that the scan must cover.

    Returns:
        ``(stored, fine, subslices)``: the stored grid, the grid with ``subslices``
        sub-slices per stored slice, and that count.
    """
    thickness = profile.slice_thickness_mm
    slices = int(math.ceil((z_range_mm[1] - z_range_mm[0]) / thickness))
    half_width = (profile.matrix - 1) / 2.0 * profile.pixel_mm
    origin_xy = (centre_xy_mm[0] - half_width, centre_xy_mm[1] - half_width)
    # Snap z to multiples of the thickness so repeated scans share slice positions.
    z0 = math.floor(z_range_mm[0] / thickness) * thickness + thickness / 2.0
    stored = Grid(
        (profile.matrix, profile.matrix, slices),
        (profile.pixel_mm, profile.pixel_mm, thickness),
        (origin_xy[0], origin_xy[1], z0),
    )
    subslices = max(1, int(math.ceil(thickness / MAX_SUBSLICE_MM - 1e-9)))
    fine_dz = thickness / subslices
    fine = Grid(
        (profile.matrix, profile.matrix, slices * subslices),
        (profile.pixel_mm, profile.pixel_mm, fine_dz),
        (origin_xy[0], origin_xy[1], z0 - thickness / 2.0 + fine_dz / 2.0),
    )
    return stored, fine, subslices


def _group(volume: np.ndarray, subslices: int) -> np.ndarray:
    nx, ny, nz = volume.shape
    return volume.reshape(nx, ny, nz // subslices, subslices)


def pool_sum(volume: np.ndarray, subslices: int) -> np.ndarray:
    """Sum groups of sub-slices (for conductance, which must keep its total)."""
    if subslices == 1:
        return volume
    return _group(volume, subslices).sum(axis=3, dtype=np.float32)


def pool_mean(volume: np.ndarray, subslices: int) -> np.ndarray:
    """Average groups of sub-slices (for HU, giving the partial-volume value)."""
    if subslices == 1:
        return volume
    return _group(volume, subslices).mean(axis=3, dtype=np.float32)


def pool_labels(labels: np.ndarray, subslices: int, codes: int) -> np.ndarray:
    """Return the most frequent label of each sub-slice group (lowest code on ties)."""
    if subslices == 1:
        return labels
    grouped = _group(labels, subslices)
    best = np.zeros(grouped.shape[:3], dtype=np.uint8)
    best_count = np.zeros(grouped.shape[:3], dtype=np.uint8)
    for code in np.flatnonzero(np.bincount(labels.ravel())):
        if code >= codes:
            raise ValueError(f"label {code} is outside the {codes} known label codes.")
        count = np.zeros(grouped.shape[:3], dtype=np.uint8)
        for index in range(subslices):
            count += grouped[..., index] == code
        better = count > best_count
        best[better] = code
        best_count[better] = count[better]
    return best


KERNELS = ("smooth", "standard", "sharp")
"""Reconstruction kernel names."""


def _apply_kernel(hu: np.ndarray, kernel: str) -> np.ndarray:
    if kernel == "smooth":
        return ndimage.gaussian_filter(hu, sigma=(0.9, 0.9, 0.0))
    if kernel == "standard":
        return ndimage.gaussian_filter(hu, sigma=(0.6, 0.6, 0.0))
    if kernel == "sharp":
        # Unsharp masking: edges overshoot, as with a bone or lung kernel.
        base = ndimage.gaussian_filter(hu, sigma=(0.3, 0.3, 0.0))
        blurred = ndimage.gaussian_filter(hu, sigma=(1.3, 1.3, 0.0))
        return base + np.float32(0.7) * (base - blurred)
    raise ValueError(f"unknown kernel {kernel!r}; valid kernels: {list(KERNELS)}.")


def _kernel_noise_gain(kernel: str) -> float:
    """Return the SD of unit white noise after the kernel (the impulse response's L2 norm)."""
    impulse = np.zeros((33, 33, 1), dtype=np.float64)
    impulse[16, 16, 0] = 1.0
    return float(np.sqrt((_apply_kernel(impulse, kernel) ** 2).sum()))


def acquire_ct(
    fine_hu: np.ndarray,
    stored: Grid,
    subslices: int,
    profile: ScannerProfile,
    noise_scale: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Simulate slice averaging, noise, kernel and the reconstruction circle.

    Args:
        fine_hu: float32 HU on the sub-slice grid.
        stored: Stored grid (same in-plane geometry).
        subslices: Sub-slices per stored slice.
        profile: Scanner profile.
        noise_scale: Multiplier of ``profile.noise_hu`` (larger bodies are noisier).
        rng: Random generator of the scan.

    Returns:
        int16 HU on ``stored``, clipped to [-1024, 3071] inside the circle and
        :data:`OUTSIDE_FOV_HU` outside it.
    """
    hu = pool_mean(fine_hu, subslices)
    # White noise added before the kernel is shaped by it, as in filtered back
    # projection, and is pre-scaled so its SD after the kernel is the profile's.
    noise_sd = profile.noise_hu * noise_scale / _kernel_noise_gain(profile.kernel)
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    noise *= np.float32(noise_sd)
    hu = hu + noise
    del noise
    hu = _apply_kernel(hu, profile.kernel)
    np.clip(hu, -1024.0, 3071.0, out=hu)
    ct = np.rint(hu).astype(np.int16)

    fov = (
        profile.fov_mm
        if profile.fov_mm is not None
        else profile.matrix * profile.pixel_mm
    )
    x = stored.axis_mm(0) - (
        stored.origin_mm[0] + (stored.shape[0] - 1) * stored.spacing_mm[0] / 2
    )
    y = stored.axis_mm(1) - (
        stored.origin_mm[1] + (stored.shape[1] - 1) * stored.spacing_mm[1] / 2
    )
    outside = x[:, None] ** 2 + y[None, :] ** 2 > (fov / 2.0) ** 2
    ct[outside] = OUTSIDE_FOV_HU
    return ct
