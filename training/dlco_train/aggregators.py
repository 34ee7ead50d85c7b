"""Bag aggregators: additive contributions, gated attention MIL or retained fractions.

What is additive (``AdditiveAggregator``, the default): patch n contributes
``c_n = f * lung_ml_n * g_n`` ml/min/mmHg, where ``g_n`` > 0 is the conductance per mL of
lung predicted from the patch embedding (plus zone, side and metadata), and ``f`` is one
subject-level factor (haemoglobin, learned metadata effect, or 1). The estimate is
``sum_n c_n`` exactly, so contributions can be read as each patch's share of DLCO. The
uncertainty ``sigma`` is a separate bag-level output and is not split across patches.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .config import TrainConfig
from .manifest import METADATA_FEATURES, METADATA_INDEX

__all__ = [
    "MetadataNormaliser",
    "AdditiveAggregator",
    "AttentionAggregator",
    "RetainedFractionAggregator",
    "cohb_factor",
    "cotes_hb_factor",
]

# softplus(x) = 1 at this x, so a zero-initialised head starts at the scale it is given.
_SOFTPLUS_ONE = math.log(math.e - 1.0)
_LOG_VARIANCE_RANGE = (-12.0, 12.0)


class MetadataNormaliser(nn.Module):
    """Standardise raw metadata with training statistics; NaN (missing) becomes 0.

    Args:
        mean: ``[M]`` training means of the raw features.
        std: ``[M]`` training standard deviations.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """Map ``[..., M]`` raw values to ``[..., M]`` z-scores with missing set to 0."""
        z = (raw - self.mean) / self.std
        return torch.where(torch.isnan(z), torch.zeros_like(z), z)


def cotes_hb_factor(metadata: torch.Tensor) -> torch.Tensor:
    """Ratio of measured DLCO to DLCO at a standard haemoglobin, from raw metadata.

    Cotes et al. (Clin Sci 1972), as recommended by the 2017 ERS/ATS DLCO standard:
    ``1.7 Hb / (K + Hb)`` with Hb in g/dL and K = 10.22 for men, 9.38 for women. The
    factor is 1 at Hb 14.6 (men) or 13.4 (women). A missing Hb gives 1; a missing sex
    uses the mean K.

    Args:
        metadata: ``[..., M]`` raw metadata in ``METADATA_FEATURES`` order.

    Returns:
        ``[...]`` dimensionless factor.
    """
    hb = metadata[..., METADATA_INDEX["hb_g_dl"]]
    male = metadata[..., METADATA_INDEX["sex_male"]]
    male = torch.where(torch.isnan(male), torch.full_like(male, 0.5), male)
    k = 9.38 + (10.22 - 9.38) * male
    factor = 1.7 * hb / (k + hb)
    return torch.where(torch.isnan(factor), torch.ones_like(factor), factor)


def cohb_factor(metadata: torch.Tensor) -> torch.Tensor:
    """DLCO multiplier for carboxyhaemoglobin (COHb, %), from raw metadata.

    CO already bound to haemoglobin lowers the measured DLCO by about 1 % per percentage
    point of COHb. The factor is ``1 - 0.01 max(COHb - 1, 0)``, which is 1 for a
    non-smoker's 1 %. A missing COHb gives 1.

    Args:
        metadata: ``[..., M]`` raw metadata in ``METADATA_FEATURES`` order.

    Returns:
        ``[...]`` dimensionless factor.
    """
    cohb = metadata[..., METADATA_INDEX["cohb_percent"]]
    factor = 1.0 - 0.01 * torch.clamp(cohb - 1.0, min=0.0)
    return torch.where(torch.isnan(factor), torch.ones_like(factor), factor)


class _AggregatorBase(nn.Module):
    """Inputs, metadata handling and the global factor shared by every aggregator."""

    def __init__(
        self,
        config: TrainConfig,
        num_zone_codes: int,
        metadata_mean: Sequence[float],
        metadata_std: Sequence[float],
        conductance_scale: float,
        log_variance_init: float,
    ) -> None:
        super().__init__()
        self.use_metadata = config.use_metadata
        self.use_zone_side = config.use_zone_side
        self.global_factor_terms = config.global_factor_terms
        self.num_zone_codes = int(num_zone_codes)
        self.metadata_dim = len(METADATA_FEATURES)
        self.normaliser = MetadataNormaliser(metadata_mean, metadata_std)
        self.register_buffer(
            "conductance_scale", torch.tensor(float(conductance_scale))
        )
        self.patch_feature_dim = config.embedding_dim + (
            self.num_zone_codes + 3 if self.use_zone_side else 0
        )
        self.context_dim = self.metadata_dim if self.use_metadata else 0
        if "learned" in self.global_factor_terms:
            self.factor_head = nn.Linear(self.metadata_dim, 1)
            nn.init.zeros_(self.factor_head.weight)
            nn.init.zeros_(self.factor_head.bias)
        self.variance_head = nn.Sequential(
            nn.Linear(config.embedding_dim + self.context_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )
        nn.init.zeros_(self.variance_head[2].weight)
        nn.init.constant_(self.variance_head[2].bias, float(log_variance_init))

    def _patch_features(
        self, embeddings: torch.Tensor, zone: torch.Tensor, side: torch.Tensor
    ) -> torch.Tensor:
        if not self.use_zone_side:
            return embeddings
        # Comparing with every code gives an all-zero row for an unknown code instead of an
        # out-of-range index error, in PyTorch and in ONNX Runtime alike.
        zone_codes = torch.arange(self.num_zone_codes, device=zone.device)
        zone_onehot = (zone.long().unsqueeze(1) == zone_codes).float()
        side_onehot = (
            side.long().unsqueeze(1) == torch.arange(3, device=side.device)
        ).float()
        return torch.cat([embeddings, zone_onehot, side_onehot], dim=1)

    def _with_context(
        self, features: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        """Append normalised metadata to ``[D']`` or ``[N, D']`` features when it is used."""
        if not self.use_metadata:
            return features
        if features.dim() == 2:
            context = context.expand(features.shape[0], -1)
        return torch.cat([features, context], dim=-1)

    def _global_factor(
        self, metadata: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        factor = torch.ones(1, device=metadata.device)
        if "hb" in self.global_factor_terms:
            factor = factor * cotes_hb_factor(metadata).reshape(1)
        if "cohb" in self.global_factor_terms:
            factor = factor * cohb_factor(metadata).reshape(1)
        if "learned" in self.global_factor_terms:
            factor = factor * torch.exp(torch.tanh(self.factor_head(context)))
        return factor

    def _pooled_outputs(
        self,
        embeddings: torch.Tensor,
        lung_ml: torch.Tensor,
        context: torch.Tensor,
        contributions: torch.Tensor,
        factor: torch.Tensor,
        **per_patch: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Return the outputs of a pooling whose estimate is the sum of ``contributions``.

        The bag embedding is the lung-volume-weighted mean of the patch embeddings, and
        ``per_patch`` adds the pooling's own outputs.
        """
        dlco = contributions.sum().reshape(1)
        weights = lung_ml / lung_ml.sum()
        bag_embedding = (weights.unsqueeze(1) * embeddings).sum(0)
        log_variance, sigma = self._sigma(bag_embedding, context)
        return {
            "dlco": dlco,
            "sigma": sigma,
            "log_variance": log_variance,
            "contributions": contributions,
            "patch_weights": contributions / dlco,
            **per_patch,
            "global_factor": factor.reshape(1),
            "bag_embedding": bag_embedding,
        }

    def _sigma(
        self, bag_embedding: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        log_variance = self.variance_head(self._with_context(bag_embedding, context))
        log_variance = torch.clamp(log_variance, *_LOG_VARIANCE_RANGE)
        return log_variance, torch.exp(0.5 * log_variance)


class AdditiveAggregator(_AggregatorBase):
    """Additive MIL pooling whose patch contributions sum to the estimate.

    ``c_n = f * v * lung_ml_n * g_n`` with ``g_n = scale * softplus(head(x_n))`` the
    conductance per mL (ml/min/mmHg per mL), ``x_n`` the patch embedding with zone, side
    and normalised metadata, ``f`` the global factor and ``v`` the volume scale (1 at
    inference). The estimate is ``sum_n c_n``.
    """

    def __init__(self, config: TrainConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.conductance_head = nn.Sequential(
            nn.Linear(self.patch_feature_dim + self.context_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )
        nn.init.zeros_(self.conductance_head[2].weight)
        nn.init.constant_(self.conductance_head[2].bias, _SOFTPLUS_ONE)

    def forward(
        self,
        embeddings: torch.Tensor,
        lung_ml: torch.Tensor,
        zone: torch.Tensor,
        side: torch.Tensor,
        metadata: torch.Tensor,
        volume_scale: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Pool one bag.

        Args:
            embeddings: ``[N, D]`` patch embeddings.
            lung_ml: ``[N]`` lung volume per patch, mL.
            zone: ``[N]`` zone codes.
            side: ``[N]`` 1 right, 2 left.
            metadata: ``[M]`` raw metadata, NaN where missing.
            volume_scale: Scalar, total lung mL of the bag over the lung mL of the patches
                given; training passes it when it subsamples patches.

        Returns:
            ``dlco`` ``[1]`` and ``sigma`` ``[1]`` in ml/min/mmHg, ``log_variance``
            ``[1]``, ``contributions`` ``[N]`` ml/min/mmHg summing to ``dlco``,
            ``patch_weights`` ``[N]`` (contribution shares), ``conductance_per_ml``
            ``[N]`` in ml/min/mmHg per mL, ``global_factor`` ``[1]`` and
            ``bag_embedding`` ``[D]`` (lung-volume-weighted mean embedding).
        """
        context = self.normaliser(metadata)
        features = self._with_context(
            self._patch_features(embeddings, zone, side), context
        )
        raw = self.conductance_head(features).squeeze(1)
        conductance = self.conductance_scale * F.softplus(raw)

        factor = self._global_factor(metadata, context)
        contributions = lung_ml * conductance * factor
        if volume_scale is not None:
            contributions = contributions * volume_scale
        return self._pooled_outputs(
            embeddings,
            lung_ml,
            context,
            contributions,
            factor,
            conductance_per_ml=conductance,
        )


class AttentionAggregator(_AggregatorBase):
    """Gated attention MIL pooling (Ilse, Tomczak and Welling, ICML 2018).

    Attention ``a_n = softmax_n(w . (tanh(V x_n) * sigmoid(U x_n)))`` pools the patch
    features into ``z``; a head maps ``z`` and the metadata to one conductance per mL
    ``g`` of the whole lung, and ``dlco = f * v * g * sum_n lung_ml_n``.
    ``contributions`` are ``a_n * dlco``: they sum to the estimate but are attention
    shares, not physical per-patch conductances as in ``AdditiveAggregator``.
    """

    def __init__(self, config: TrainConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        width = config.hidden_dim
        self.attention_v = nn.Linear(self.patch_feature_dim, width)
        self.attention_u = nn.Linear(self.patch_feature_dim, width)
        self.attention_w = nn.Linear(width, 1)
        self.conductance_head = nn.Sequential(
            nn.Linear(self.patch_feature_dim + self.context_dim, width),
            nn.ReLU(),
            nn.Linear(width, 1),
        )
        nn.init.zeros_(self.conductance_head[2].weight)
        nn.init.constant_(self.conductance_head[2].bias, _SOFTPLUS_ONE)

    def forward(
        self,
        embeddings: torch.Tensor,
        lung_ml: torch.Tensor,
        zone: torch.Tensor,
        side: torch.Tensor,
        metadata: torch.Tensor,
        volume_scale: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Pool one bag; arguments and outputs as in ``AdditiveAggregator.forward``.

        ``patch_weights`` are the attention weights (they sum to 1), and
        ``conductance_per_ml`` repeats the whole-lung value for every patch.
        """
        context = self.normaliser(metadata)
        features = self._patch_features(embeddings, zone, side)
        gate = torch.tanh(self.attention_v(features)) * torch.sigmoid(
            self.attention_u(features)
        )
        attention = torch.softmax(self.attention_w(gate).squeeze(1), dim=0)
        pooled = (attention.unsqueeze(1) * features).sum(0)

        raw = self.conductance_head(self._with_context(pooled, context))
        conductance = self.conductance_scale * F.softplus(raw)
        factor = self._global_factor(metadata, context)
        dlco = (conductance * factor * lung_ml.sum()).reshape(1)
        if volume_scale is not None:
            dlco = dlco * volume_scale

        bag_embedding = (attention.unsqueeze(1) * embeddings).sum(0)
        log_variance, sigma = self._sigma(bag_embedding, context)
        return {
            "dlco": dlco,
            "sigma": sigma,
            "log_variance": log_variance,
            "contributions": attention * dlco,
            "patch_weights": attention,
            "conductance_per_ml": conductance.expand(lung_ml.shape[0]),
            "global_factor": factor.reshape(1),
            "bag_embedding": bag_embedding,
        }


class RetainedFractionAggregator(_AggregatorBase):
    """Reference DLCO times the perfusion-weighted share of conductance the patches retain.

    Each patch gets a healthy weight ``w_n = lung_ml_n * exp(p(zone_n, side_n))``, where
    the learned term ``p`` stands for regional perfusion, and a retained fraction
    ``r_n = sigmoid(head(x_n))`` in (0, 1), the share of its healthy conductance that
    disease leaves. The estimate is ``R f sum_n w_n r_n / sum_n w_n`` with ``R`` the GLI
    2017 predicted DLCO of the subject and ``f`` the global factor. Contributions
    ``c_n = R f w_n r_n / sum_n w_n`` sum to the estimate, and ``R f w_n (1 - r_n) /
    sum_n w_n`` is the patch's deficit. The weights are normalised within the bag, so a
    subsample of patches estimates the same quantity and ``volume_scale`` is not needed.

    A healthy lung thus predicts its reference value, which ties the model to the
    reference equations instead of to lung volume. Without metadata (or when the GLI
    value is missing) ``R`` falls back to the training mean of the GLI value, or to
    ``conductance_scale`` times the bag's lung volume when metadata is off.
    """

    def __init__(self, config: TrainConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        # The perfusion term reads the zone and side one-hot codes, so it exists only
        # when use_zone_side is set. Without it every mL of lung has the same weight.
        if self.use_zone_side:
            self.perfusion_head = nn.Linear(self.num_zone_codes + 3, 1)
            nn.init.zeros_(self.perfusion_head.weight)
            nn.init.zeros_(self.perfusion_head.bias)
        self.retained_head = nn.Sequential(
            nn.Linear(self.patch_feature_dim + self.context_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )
        nn.init.zeros_(self.retained_head[2].weight)
        # sigmoid(3) = 0.95: training starts from a nearly healthy lung everywhere.
        nn.init.constant_(self.retained_head[2].bias, 3.0)

    def _reference(
        self, metadata: torch.Tensor, lung_ml: torch.Tensor, volume_scale
    ) -> torch.Tensor:
        if not self.use_metadata:
            volume = lung_ml.sum()
            if volume_scale is not None:
                volume = volume * volume_scale
            return (self.conductance_scale * volume).reshape(1)
        # NOTE: outside the GLI age and height range the training mean stands in, so the
        # estimate is then not anchored to the subject; the model card says so.
        index = METADATA_INDEX["gli_dlco_predicted"]
        value = metadata[index].reshape(1)
        fallback = self.normaliser.mean[index].reshape(1)
        return torch.where(torch.isnan(value), fallback, value)

    def forward(
        self,
        embeddings: torch.Tensor,
        lung_ml: torch.Tensor,
        zone: torch.Tensor,
        side: torch.Tensor,
        metadata: torch.Tensor,
        volume_scale: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Pool one bag; arguments and outputs as in ``AdditiveAggregator.forward``.

        ``conductance_per_ml`` is the contribution per mL of the patch's lung,
        ``expected`` ``[N]`` is ``R f w_n / sum_n w_n``, the patch's contribution if it
        were healthy (so ``expected - contributions`` is its deficit), and
        ``retained_fraction`` ``[N]`` is ``r_n``.
        """
        context = self.normaliser(metadata)
        patch_features = self._patch_features(embeddings, zone, side)
        features = self._with_context(patch_features, context)
        retained = torch.sigmoid(self.retained_head(features).squeeze(1))

        weight = lung_ml
        if self.use_zone_side:
            position = patch_features[:, embeddings.shape[1] :]
            weight = lung_ml * torch.exp(
                torch.tanh(self.perfusion_head(position).squeeze(1))
            )
        share = weight / weight.sum()

        factor = self._global_factor(metadata, context)
        scale = self._reference(metadata, lung_ml, volume_scale) * factor
        expected = scale * share
        contributions = expected * retained
        return self._pooled_outputs(
            embeddings,
            lung_ml,
            context,
            contributions,
            factor,
            conductance_per_ml=contributions / lung_ml.clamp(min=1e-6),
            expected=expected,
            retained_fraction=retained,
        )
