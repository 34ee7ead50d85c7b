"""Space-filling airway and vessel trees, and their rendering as volume fractions.

A tree grows from a root segment into a cloud of points sampled inside the lung. At each
branch point the cloud is split in two by the plane through its centroid normal to its
principal axis, and each child heads a fixed fraction of the way towards the centroid of
its half. Radii follow Murray's law with flow proportional to the number of points a
branch supplies, so the tree tapers towards the periphery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import AnatomyParams, lung_side
from .fields import render_capsules, splat_volumes
from .geometry import Grid

__all__ = [
    "Tree",
    "build_subject_trees",
    "grow_tree",
    "render_tree",
    "sample_lung_points",
]

LENGTH_FRACTION = 0.45
"""Fraction of the distance to its points' centroid that a child branch covers."""

SMALL_RADIUS_VOXELS = 1.0
"""Branches thinner than this many in-plane voxels are rendered by volume splatting."""


@dataclass
class Tree:
    """Segments of one tree; lengths in mm, LPS coordinates.

    Attributes:
        starts_mm: (N, 3) segment start points.
        ends_mm: (N, 3) segment end points.
        radii_mm: (N,) lumen radii.
        generations: (N,) branching generation, 0 for the root.
        terminal: (N,) True for branches without children.
    """

    starts_mm: np.ndarray
    ends_mm: np.ndarray
    radii_mm: np.ndarray
    generations: np.ndarray
    terminal: np.ndarray

    def subset(
        self, keep: np.ndarray, radius_scale: np.ndarray | None = None
    ) -> "Tree":
        """Return the segments where ``keep`` is True, radii optionally rescaled."""
        radii = self.radii_mm if radius_scale is None else self.radii_mm * radius_scale
        return Tree(
            self.starts_mm[keep],
            self.ends_mm[keep],
            radii[keep],
            self.generations[keep],
            self.terminal[keep],
        )


def sample_lung_points(
    params: AnatomyParams, side: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw points uniformly inside one lung by rejection sampling.

    Args:
        params: Subject anatomy.
        side: 1 right lung, 2 left lung.
        count: Number of points.
        rng: Random generator.

    Returns:
        (count, 3) float64 LPS points in mm.
    """
    sign = -1.0 if side == 1 else 1.0
    low = np.array([0.0, -params.cavity_b_mm, 0.0])
    high = np.array([params.cavity_a_mm, params.cavity_b_mm, params.lung_height_mm])
    accepted: list[np.ndarray] = []
    total = 0
    while total < count:
        candidates = rng.uniform(low, high, size=(4 * count, 3))
        candidates[:, 0] *= sign
        inside = lung_side(candidates[:, 0], candidates[:, 1], candidates[:, 2], params)
        chosen = candidates[inside == side]
        accepted.append(chosen)
        total += len(chosen)
    return np.concatenate(accepted)[:count]


def grow_tree(
    root_start: np.ndarray,
    root_end: np.ndarray,
    root_radius_mm: float,
    points: np.ndarray,
    max_generation: int,
    min_points: int = 2,
) -> Tree:
    """Grow a space-filling tree from a root segment into a point cloud.

    Args:
        root_start: LPS start of the root segment (mm).
        root_end: LPS end of the root segment, the first branch point (mm).
        root_radius_mm: Radius of the root segment.
        points: (N, 3) LPS points the tree must supply.
        max_generation: Generation at which branching stops.
        min_points: A branch with fewer points ends there.

    Returns:
        The grown tree.
    """
    starts = [np.asarray(root_start, float)]
    ends = [np.asarray(root_end, float)]
    radii = [root_radius_mm]
    generations = [0]
    terminal = [False]
    total_points = len(points)
    stack = [(np.asarray(root_end, float), points, 1)]
    while stack:
        start, cloud, generation = stack.pop()
        halves = _split_cloud(cloud)
        for half in halves:
            centroid = half.mean(axis=0)
            end = start + LENGTH_FRACTION * (centroid - start)
            is_terminal = generation >= max_generation or len(half) < 2 * min_points
            if is_terminal:
                end = centroid
            starts.append(start)
            ends.append(end)
            radii.append(root_radius_mm * (len(half) / total_points) ** (1.0 / 3.0))
            generations.append(generation)
            terminal.append(is_terminal)
            if not is_terminal:
                stack.append((end, half, generation + 1))
    return Tree(
        np.array(starts),
        np.array(ends),
        np.array(radii),
        np.array(generations),
        np.array(terminal),
    )


def _split_cloud(cloud: np.ndarray) -> list[np.ndarray]:
    centred = cloud - cloud.mean(axis=0)
    covariance = centred.T @ centred
    _, vectors = np.linalg.eigh(covariance)
    projection = centred @ vectors[:, -1]
    median = np.median(projection)
    return [cloud[projection <= median], cloud[projection > median]]


@dataclass
class SubjectTrees:
    """Airway, pulmonary artery and pulmonary vein trees of one subject."""

    airways: Tree
    arteries: Tree
    veins: Tree


def build_subject_trees(
    params: AnatomyParams, rng: np.random.Generator
) -> SubjectTrees:
    """Grow the airway tree and one artery and one vein tree per lung.

    The airway cloud is 2 x 160 points, so airways end at about generation 8 with a
    radius near 1.5 mm. Arteries share the airway cloud plus extra points, so they run
    alongside the bronchi, and veins grow from the left atrium into separate points.
    Both vessel trees end at about 0.9 mm radius.

    Args:
        params: Subject anatomy.
        rng: Random generator of the subject.

    Returns:
        The three trees.
    """
    airway_clouds = [sample_lung_points(params, side, 160, rng) for side in (1, 2)]
    trachea_top = np.array([0.0, params.trachea_y_mm, params.lung_height_mm + 60.0])
    carina = np.array([0.0, params.trachea_y_mm, params.carina_z_mm])
    airways = grow_tree(
        trachea_top,
        carina,
        params.trachea_radius_mm,
        np.concatenate(airway_clouds),
        max_generation=8,
    )

    artery_trees, vein_trees = [], []
    for side, airway_cloud in zip((1, 2), airway_clouds):
        sign = -1.0 if side == 1 else 1.0
        hilum = np.array(
            [
                sign * 0.3 * params.cavity_a_mm,
                params.trachea_y_mm - 12.0,
                params.carina_z_mm - 25.0,
            ]
        )
        trunk = np.array(
            [
                0.05 * params.cavity_a_mm,
                -0.2 * params.cavity_b_mm,
                params.carina_z_mm - 20.0,
            ]
        )
        cloud = np.concatenate(
            [airway_cloud, sample_lung_points(params, side, 1100, rng)]
        )
        artery_trees.append(grow_tree(trunk, hilum, 8.0, cloud, max_generation=14))

        atrium = np.array(
            [
                0.12 * params.cavity_a_mm,
                -0.05 * params.cavity_b_mm,
                params.heart_center_mm[2] + 20.0,
            ]
        )
        lower_hilum = hilum + np.array([0.0, 8.0, -35.0])
        cloud = sample_lung_points(params, side, 1200, rng)
        vein_trees.append(grow_tree(atrium, lower_hilum, 7.5, cloud, max_generation=14))
    return SubjectTrees(airways, _concatenate(artery_trees), _concatenate(vein_trees))


def _concatenate(trees: list[Tree]) -> Tree:
    return Tree(
        np.concatenate([tree.starts_mm for tree in trees]),
        np.concatenate([tree.ends_mm for tree in trees]),
        np.concatenate([tree.radii_mm for tree in trees]),
        np.concatenate([tree.generations for tree in trees]),
        np.concatenate([tree.terminal for tree in trees]),
    )


def render_tree(grid: Grid, tree: Tree, radius_scale: float = 1.0) -> np.ndarray:
    """Render a tree as a volume fraction on a grid.

    Branches at least :data:`SMALL_RADIUS_VOXELS` voxels thick are rendered as capsules
    with a one-voxel soft edge. Thinner ones are sampled every 0.5 mm along their axis
    and splatted with their cross-section volume, so their partial-volume fraction is
    kept without resolving them.

    Args:
        grid: Target grid.
        tree: Segments to render.
        radius_scale: Multiplier of every radius, e.g. 1.3 for an airway's outer wall.

    Returns:
        float32 volume fraction in [0, 1] of ``grid.shape``.
    """
    radii = tree.radii_mm * radius_scale
    threshold = SMALL_RADIUS_VOXELS * min(grid.spacing_mm[:2])
    large = radii >= threshold
    fraction = np.zeros(grid.shape, dtype=np.float32)
    render_capsules(
        grid, tree.starts_mm[large], tree.ends_mm[large], radii[large], fraction
    )

    small = ~large
    starts, ends, small_radii = tree.starts_mm[small], tree.ends_mm[small], radii[small]
    lengths = np.linalg.norm(ends - starts, axis=1)
    counts = np.maximum(np.ceil(lengths / 0.5).astype(int), 1)
    owner = np.repeat(np.arange(len(starts)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    t = (offsets + 0.5) / counts[owner]
    points = starts[owner] + t[:, None] * (ends[owner] - starts[owner])
    volumes_ml = (
        np.pi * small_radii[owner] ** 2 * (lengths[owner] / counts[owner]) / 1000.0
    )
    fraction = np.maximum(
        fraction, splat_volumes(grid, points, volumes_ml, blur_mm=0.0)
    )
    return fraction
