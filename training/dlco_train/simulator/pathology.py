"""Lesions: where they sit, how they look on CT and what conductance they remove.

A :class:`LesionPlan` is drawn once per subject in physical coordinates, so every scan
of that subject shows the same lesions. :func:`render_lesions` turns a plan into HU
changes, a conductance multiplier and lesion labels on one scan's grid. All effect
sizes are simulator assumptions, listed in ``docs/simulator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fields import render_capsules, splat_volumes
from .lungs import LungContext
from .trees import Tree

__all__ = [
    "LABELS",
    "PHENOTYPES",
    "LesionPlan",
    "LesionRender",
    "plan_lesions",
    "prune_arteries",
    "render_lesions",
]

LABELS = {
    0: "outside lung",
    1: "lung without lesion",
    2: "centrilobular emphysema",
    3: "panlobular emphysema",
    4: "paraseptal emphysema",
    5: "bulla",
    6: "reticulation",
    7: "honeycombing",
    8: "ground-glass opacity",
    9: "pulmonary vascular disease (pruned perfusion, CT-subtle)",
    10: "dependent atelectasis (no conductance loss)",
}
"""Lesion label codes of the ``labels`` truth volume."""

PHENOTYPES = {
    "healthy": {},
    "centrilobular": {"centrilobular": 1.0},
    "panlobular": {"panlobular": 1.0},
    "paraseptal": {"paraseptal": 1.0},
    "fibrosis": {"fibrosis": 1.0},
    "vascular": {"vascular": 1.0},
    "cpfe": {"centrilobular": 0.8, "paraseptal": 0.5, "fibrosis": 0.8},
    "emphysema_vascular": {"centrilobular": 0.7, "vascular": 0.7},
}
"""Phenotype name to the relative severity of each lesion process it contains."""

LUCENT_HU = -990.0
WALL_HU = 40.0

# Fraction of local conductance that each process removes at full intensity.
CENTRILOBULAR_MILIEU_LOSS = 0.15
GROUND_GLASS_LOSS = 0.35
RETICULATION_LOSS = 0.9
VASCULAR_LOSS = 0.6


@dataclass
class LesionPlan:
    """Lesions of one subject, in LPS mm.

    Attributes:
        phenotype: Key of :data:`PHENOTYPES`.
        severity: Overall severity in [0, 1].
        processes: Severity of each process (phenotype weight x severity).
        spheres: Per kind (``centrilobular``, ``paraseptal``, ``bulla``,
            ``honeycomb``), an (N, 3) array of centres and an (N,) array of radii.
    """

    phenotype: str
    severity: float
    processes: dict[str, float]
    spheres: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def level(self, process: str) -> float:
        """Return the severity of one process, 0 when absent."""
        return self.processes.get(process, 0.0)

    def fields_needed(self) -> set[str]:
        """Return the random fields that :func:`render_lesions` reads for this plan."""
        needed = set()
        if any(self.level(name) > 0 for name in ("vascular", "fibrosis", "panlobular")):
            needed.add("patchy")
        if self.level("fibrosis") > 0:
            needed.add("reticular")
        return needed


def _sample_centres(
    context: LungContext, weights: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``count`` LPS lung points (mm) with probability proportional to weights."""
    flat = np.flatnonzero(context.mask & (weights > 0))
    if count == 0 or flat.size == 0:
        return np.zeros((0, 3))
    probability = weights.ravel()[flat].astype(np.float64)
    probability /= probability.sum()
    chosen = rng.choice(flat, size=count, p=probability)
    index = np.stack(np.unravel_index(chosen, context.grid.shape), axis=1)
    spacing = np.asarray(context.grid.spacing_mm)
    jitter = rng.uniform(-0.5, 0.5, size=index.shape) * spacing
    return np.asarray(context.grid.origin_mm) + index * spacing + jitter


def plan_lesions(
    phenotype: str, severity: float, reference: LungContext, rng: np.random.Generator
) -> LesionPlan:
    """Place the lesions of one subject.

    Args:
        phenotype: Key of :data:`PHENOTYPES`.
        severity: Overall severity in [0, 1].
        reference: Lung maps on the subject's reference grid.
        rng: Random generator of the subject.

    Returns:
        The plan.

    Raises:
        ValueError: For an unknown phenotype or a severity outside [0, 1].
    """
    if phenotype not in PHENOTYPES:
        raise ValueError(
            f"unknown phenotype {phenotype!r}; valid phenotypes: {sorted(PHENOTYPES)}."
        )
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must be in [0, 1], received {severity}.")
    processes = {
        name: weight * severity for name, weight in PHENOTYPES[phenotype].items()
    }
    plan = LesionPlan(phenotype, severity, processes)
    lung_ml = float(reference.mask.sum()) * reference.grid.voxel_volume_ml
    upper = (1.0 - reference.basal) ** 2 + 0.05
    pleura = reference.pleura_mm

    level = plan.level("centrilobular")
    if level > 0:
        # Up to 35 % of the lung volume in lucencies of 1.5 to 5 mm radius.
        radii = np.exp(rng.uniform(np.log(1.5), np.log(2.0 + 3.0 * level), size=200000))
        volume_ml = 0.35 * level * lung_ml
        count = int(
            np.searchsorted(np.cumsum(4.0 / 3.0 * np.pi * radii**3 / 1000.0), volume_ml)
        )
        weights = upper * (pleura > 4.0)
        plan.spheres["centrilobular"] = (
            _sample_centres(reference, weights, count, rng),
            radii[:count],
        )

    level = plan.level("paraseptal")
    if level > 0:
        count = int(400 * level)
        weights = (pleura < 6.0) * (upper + 0.2)
        plan.spheres["paraseptal"] = (
            _sample_centres(reference, weights, count, rng),
            rng.uniform(3.0, 6.0, size=count),
        )
        bulla_count = int(rng.integers(1, 2 + int(3 * level)))
        radii = rng.uniform(10.0, 12.0 + 20.0 * level, size=bulla_count)
        centres = _sample_centres(
            reference, (pleura > 8.0) * (pleura < 14.0) * upper**2, bulla_count, rng
        )
        plan.spheres["bulla"] = (centres, radii)

    level = plan.level("fibrosis")
    if level > 0.4:
        count = int(600 * level)
        weights = (pleura < 12.0) * reference.basal**3
        plan.spheres["honeycomb"] = (
            _sample_centres(reference, weights, count, rng),
            rng.uniform(2.0, 4.5, size=count),
        )
    return plan


def prune_arteries(arteries: Tree, plan: LesionPlan, rng: np.random.Generator) -> Tree:
    """Remove and narrow small arteries for pulmonary vascular disease.

    Terminal branches below 1.2 mm radius are removed with probability 0.5 x severity,
    and the remaining ones are narrowed by 10 % x severity. All other arteries are
    unchanged, so the mean lung HU moves by only a few HU.

    Args:
        arteries: Artery tree of the subject.
        plan: Lesion plan; only its ``vascular`` severity is used.
        rng: Random generator of the subject.

    Returns:
        The pruned tree (the input when the subject has no vascular disease).
    """
    level = plan.level("vascular")
    if level <= 0:
        return arteries
    small = arteries.terminal & (arteries.radii_mm < 1.2)
    removed = small & (rng.uniform(size=small.size) < 0.5 * level)
    scale = np.where(small, 1.0 - 0.1 * level, 1.0)
    return arteries.subset(~removed, radius_scale=scale)


@dataclass
class LesionRender:
    """Lesion effects on one grid.

    Attributes:
        hu_delta: float32 HU added to parenchyma before lucencies are mixed in.
        lucent_fraction: float32 volume fraction replaced by air (lucencies, cysts).
        wall_fraction: float32 volume fraction replaced by cyst walls.
        conductance_factor: float32 multiplier of healthy conductance, in [0, 1].
        labels: uint8 lesion labels (see :data:`LABELS`).
    """

    hu_delta: np.ndarray
    lucent_fraction: np.ndarray
    wall_fraction: np.ndarray
    conductance_factor: np.ndarray
    labels: np.ndarray


def render_lesions(
    plan: LesionPlan,
    context: LungContext,
    parenchyma_hu: np.ndarray,
    fields: dict[str, np.ndarray],
    atelectasis_mm: float,
) -> LesionRender:
    """Render a lesion plan on one grid.

    Args:
        plan: The subject's lesions.
        context: Lung maps on the target grid.
        parenchyma_hu: float32 healthy parenchyma HU on the grid (sets how much tissue
            panlobular emphysema can remove).
        fields: Unit-variance random fields on the grid: ``patchy`` (about 15 mm
            correlation) and ``reticular`` (about 3 mm). Only the fields that the
            plan's processes use must be present (see :meth:`LesionPlan.fields_needed`).
        atelectasis_mm: Depth scale of dependent atelectasis, 0 for none.

    Returns:
        The rendered effects.
    """
    grid = context.grid
    mask = context.mask
    shape = grid.shape
    hu_delta = np.zeros(shape, dtype=np.float32)
    factor = np.ones(shape, dtype=np.float32)
    labels = mask.astype(np.uint8)
    patchy_positive = None
    if "patchy" in fields:
        patchy_positive = np.clip(0.5 + 0.35 * fields["patchy"], 0.0, 1.0)

    # Dependent atelectasis: denser posterior basal rim, conductance unchanged.
    if atelectasis_mm > 0:
        rim = np.exp(-context.pleura_mm / atelectasis_mm) * (context.dependency > 0.8)
        rim *= 0.5 + 0.5 * context.basal
        atelectasis = np.float32(450.0) * rim * mask
        hu_delta += atelectasis
        labels[atelectasis > 120.0] = 10

    level = plan.level("vascular")
    if level > 0:
        periphery = np.exp(-context.pleura_mm / 30.0)
        loss = (
            VASCULAR_LOSS
            * level
            * (0.2 + 0.8 * patchy_positive**2)
            * (0.5 + 0.5 * periphery)
        )
        loss *= mask
        factor *= 1.0 - loss
        labels[loss > 0.2] = 9

    level = plan.level("fibrosis")
    if level > 0:
        basal = context.basal**1.5
        ground_glass = (
            np.clip(
                1.3
                * level
                * np.exp(-context.pleura_mm / 25.0)
                * basal
                * (0.5 + patchy_positive),
                0.0,
                1.0,
            )
            * mask
        )
        hu_delta += 250.0 * ground_glass
        factor *= 1.0 - GROUND_GLASS_LOSS * ground_glass
        labels[ground_glass > 0.25] = 8

    level = plan.level("panlobular")
    if level > 0:
        region = context.basal**1.5 * (0.6 + 0.4 * patchy_positive) * mask
        drop = 150.0 * level * region
        tissue_hu = np.maximum(parenchyma_hu + 1000.0, 30.0)
        drop = np.minimum(drop, 0.85 * tissue_hu)
        hu_delta -= drop
        factor *= 1.0 - drop / tissue_hu
        labels[drop > 35.0] = 3

    lucent = np.zeros(shape, dtype=np.float32)
    walls = np.zeros(shape, dtype=np.float32)
    _render_lucencies(plan, context, factor, labels, lucent)

    level = plan.level("fibrosis")
    if level > 0:
        sheets = np.exp(-((fields["reticular"] / 0.25) ** 2))
        region = np.clip(
            1.6 * level * np.exp(-context.pleura_mm / 12.0) * context.basal**1.5,
            0.0,
            1.0,
        )
        reticulation = sheets * region * mask
        hu_delta += 600.0 * reticulation
        factor *= 1.0 - RETICULATION_LOSS * reticulation
        labels[reticulation > 0.25] = 6
        _render_honeycombing(plan, context, factor, labels, lucent, walls)

    factor *= mask
    labels[~mask] = 0
    return LesionRender(hu_delta, lucent, walls, factor, labels)


def _render_lucencies(
    plan: LesionPlan,
    context: LungContext,
    factor: np.ndarray,
    labels: np.ndarray,
    lucent: np.ndarray,
) -> None:
    grid = context.grid
    mask = context.mask
    if "centrilobular" in plan.spheres:
        centres, radii = plan.spheres["centrilobular"]
        fraction = np.zeros(grid.shape, dtype=np.float32)
        # Three size classes, each spread by a blur matching its radius.
        for low, high in ((0.0, 2.5), (2.5, 4.0), (4.0, 99.0)):
            chosen = (radii >= low) & (radii < high)
            volumes = 4.0 / 3.0 * np.pi * radii[chosen] ** 3 / 1000.0
            blur = 0.6 * float(np.median(radii[chosen])) if chosen.any() else 1.0
            fraction += splat_volumes(grid, centres[chosen], volumes, blur_mm=blur)
        fraction = np.clip(fraction, 0.0, 1.0) * mask
        milieu = CENTRILOBULAR_MILIEU_LOSS * plan.level("centrilobular")
        upper = (1.0 - context.basal) ** 2
        factor *= (1.0 - fraction) * (1.0 - milieu * upper * mask)
        np.maximum(lucent, fraction, out=lucent)
        labels[fraction > 0.3] = 2

    for kind, code in (("paraseptal", 4), ("bulla", 5)):
        if kind not in plan.spheres:
            continue
        centres, radii = plan.spheres[kind]
        fraction = np.zeros(grid.shape, dtype=np.float32)
        render_capsules(grid, centres, centres, radii, fraction)
        fraction *= mask
        factor *= 1.0 - fraction
        np.maximum(lucent, fraction, out=lucent)
        labels[fraction > 0.5] = code


def _render_honeycombing(
    plan: LesionPlan,
    context: LungContext,
    factor: np.ndarray,
    labels: np.ndarray,
    lucent: np.ndarray,
    walls: np.ndarray,
) -> None:
    if "honeycomb" not in plan.spheres:
        return
    centres, radii = plan.spheres["honeycomb"]
    grid = context.grid
    outer = np.zeros(grid.shape, dtype=np.float32)
    render_capsules(grid, centres, centres, radii + 1.5, outer)
    inner = np.zeros(grid.shape, dtype=np.float32)
    render_capsules(grid, centres, centres, radii, inner)
    outer *= context.mask
    inner *= context.mask
    wall = np.clip(outer - inner, 0.0, 1.0)
    factor *= 1.0 - outer
    np.maximum(lucent, inner, out=lucent)
    np.maximum(walls, wall, out=walls)
    labels[outer > 0.3] = 7
