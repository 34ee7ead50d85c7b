"""Training configuration: defaults, JSON loading and validation."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

__all__ = [
    "POOLINGS",
    "GLOBAL_FACTORS",
    "AUX_TARGETS",
    "TrainConfig",
    "load_config",
]

#: Ways to pool patch embeddings into one estimate.
POOLINGS = ("additive", "attention", "retained_fraction")

#: Subject-level factors that multiply every patch contribution.
#: ``hb`` is the Cotes haemoglobin factor, ``cohb`` the carboxyhaemoglobin factor (1 % of
#: DLCO per percentage point above 1 %), ``learned`` is exp(tanh(linear(metadata))).
GLOBAL_FACTORS = (
    "none",
    "hb",
    "learned",
    "hb+learned",
    "hb+cohb",
    "hb+cohb+learned",
)

#: Targets the optional auxiliary heads can predict from the image-only bag embedding.
AUX_TARGETS = ("age", "sex", "bmi", "pack_years")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run; ``train`` saves the resolved copy as config.json.

    Attributes:
        pooling: ``"additive"`` (patch contributions in ml/min/mmHg that sum to the
            estimate), ``"attention"`` (gated attention MIL) or ``"retained_fraction"``
            (the reference DLCO times the perfusion-weighted share each patch retains).
        use_metadata: Feed age, sex, height, weight, BMI, smoking, pack-years, Hb, COHb
            and the GLI 2017 predicted DLCO to the aggregator.
        use_zone_side: Feed each patch's zone and side (one-hot) to the aggregator.
        global_factor: One of ``GLOBAL_FACTORS``; forced to ``"none"`` without metadata.
        aux_loss_weights: Auxiliary target name (see ``AUX_TARGETS``) to loss weight; an
            empty mapping builds no auxiliary heads.
        encoder_channels: Output channels of each encoder stage; every stage but the last
            halves the grid.
        embedding_dim: Patch embedding size D.
        hidden_dim: Width of the aggregator's hidden layers.
        hu_clip: HU window ``[low, high]`` mapped to [-1, 1] before the encoder.
        encoder_density_features: Give the encoder's linear layer each patch's mean lung
            HU, LAA-950 share and HAA share, which its GroupNorm layers mostly remove.
        encoder_density_edges: Increasing HU edges of a density histogram that replaces
            the LAA-950 and HAA shares; empty keeps the two shares.
        patches_per_bag: K patches sampled per bag and step in training; evaluation uses
            all patches.
        bags_per_batch: Bags per optimiser step (per process under DDP).
        epochs: Number of passes over the training bags.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        loss: ``"gaussian_nll"`` (trains the uncertainty head) or ``"mse"`` (the
            uncertainty head then gets no gradient).
        grad_clip_norm: Maximum gradient L2 norm, or 0 for no clipping.
        val_fraction: Share of subjects in validation when the manifest has no split.
        test_fraction: Share of subjects in test when the manifest has no split.
        eval_chunk_patches: Patches per encoder call in evaluation (memory bound).
        validate_every: Validate after every N-th epoch and after the last one. The best
            checkpoint is chosen among validated epochs only.
        seed: Seed for initialisation, patch sampling and the fallback split.
        num_threads: torch CPU threads, or 0 to keep torch's default.
        skip_missing_bags: Drop manifest rows without a bag folder instead of raising.
    """

    pooling: str = "additive"
    use_metadata: bool = True
    use_zone_side: bool = True
    global_factor: str = "hb+learned"
    aux_loss_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    encoder_channels: list[int] = dataclasses.field(
        default_factory=lambda: [16, 32, 64]
    )
    embedding_dim: int = 64
    hidden_dim: int = 64
    hu_clip: list[float] = dataclasses.field(default_factory=lambda: [-1024.0, 600.0])
    encoder_density_features: bool = False
    encoder_density_edges: list[float] = dataclasses.field(default_factory=list)
    patches_per_bag: int = 32
    bags_per_batch: int = 8
    epochs: int = 30
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "gaussian_nll"
    grad_clip_norm: float = 5.0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    eval_chunk_patches: int = 512
    validate_every: int = 1
    seed: int = 0
    num_threads: int = 0
    skip_missing_bags: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field.

        Raises:
            ValueError: If a value is out of range or unknown, naming the field.
        """
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling {self.pooling!r} is not one of {list(POOLINGS)}")
        if self.global_factor not in GLOBAL_FACTORS:
            raise ValueError(
                f"global_factor {self.global_factor!r} is not one of {list(GLOBAL_FACTORS)}"
            )
        unknown = sorted(set(self.aux_loss_weights) - set(AUX_TARGETS))
        if unknown:
            raise ValueError(
                f"aux_loss_weights has unknown target(s) {unknown}; valid: {list(AUX_TARGETS)}"
            )
        if self.loss not in ("gaussian_nll", "mse"):
            raise ValueError(f"loss {self.loss!r} is not 'gaussian_nll' or 'mse'")
        if not self.encoder_channels or min(self.encoder_channels) < 1:
            raise ValueError(
                f"encoder_channels {self.encoder_channels} must be positive"
            )
        edges = list(self.encoder_density_edges)
        # NaN compares false both ways, so it would pass the order check and empty bins.
        finite = all(
            isinstance(edge, (int, float)) and math.isfinite(edge) for edge in edges
        )
        if not finite or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(
                f"encoder_density_edges {edges} must be finite HU values that increase "
                "strictly"
            )
        if edges and not self.encoder_density_features:
            raise ValueError(
                f"encoder_density_edges {edges} needs encoder_density_features true; "
                "set it, or remove the edges"
            )
        if len(self.hu_clip) != 2 or self.hu_clip[0] >= self.hu_clip[1]:
            raise ValueError(
                f"hu_clip {self.hu_clip} must be [low, high] with low < high"
            )
        for name in (
            "embedding_dim",
            "hidden_dim",
            "patches_per_bag",
            "bags_per_batch",
            "validate_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.epochs < 0:
            raise ValueError(f"epochs must be non-negative, got {self.epochs}")
        if not 0.0 <= self.val_fraction + self.test_fraction < 1.0:
            raise ValueError(
                f"val_fraction {self.val_fraction} + test_fraction {self.test_fraction} "
                "must be in [0, 1)"
            )

    @property
    def effective_global_factor(self) -> str:
        """The global factor actually used: ``"none"`` when metadata is off."""
        return self.global_factor if self.use_metadata else "none"

    @property
    def global_factor_terms(self) -> frozenset[str]:
        """The effective global factor's terms, such as ``{"hb", "learned"}``."""
        mode = self.effective_global_factor
        return frozenset() if mode == "none" else frozenset(mode.split("+"))

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-serialisable values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build a configuration from a mapping, rejecting unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown}; valid keys: {sorted(known)}"
            )
        return cls(**values)


def load_config(path: str | os.PathLike[str] | None, **overrides: Any) -> TrainConfig:
    """Read a JSON configuration, apply overrides, and fill in the defaults.

    Args:
        path: JSON file with a subset of ``TrainConfig`` fields, or None for defaults.
        **overrides: Fields that replace the file's values, skipped when None.

    Returns:
        The validated configuration.
    """
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
        if not isinstance(values, dict):
            raise ValueError(f"config {path} must contain a JSON object")
    values.update({key: value for key, value in overrides.items() if value is not None})
    return TrainConfig.from_dict(values)
