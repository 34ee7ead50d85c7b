"""Patch encoder and the full DLCO model.

The model has two parts, exported as two ONNX graphs so that serving can re-run the
aggregator after occluding single patches:

* ``PatchEncoder`` maps one patch (HU and lung mask) to an embedding of size D.
* An aggregator (``dlco_train.aggregators``) maps a bag's embeddings, lung volumes, zones,
  sides and the subject's metadata to the DLCO estimate, per-patch contributions and an
  uncertainty.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .aggregators import (
    AdditiveAggregator,
    AttentionAggregator,
    RetainedFractionAggregator,
)
from .bags import NO_DATA_HU
from .config import AUX_TARGETS, TrainConfig

__all__ = [
    "PatchEncoder",
    "DlcoModel",
    "build_model",
    "lung_density_features",
]

#: Number of statistics ``lung_density_features`` returns per patch.
DENSITY_FEATURE_COUNT = 3

#: Multiplier of the three density statistics. Between patches, mean scaled HU and the
#: two shares vary by a few hundredths, so a weight of order 1 would take thousands of
#: optimiser steps to reach. With the gain, a typical difference is of order 0.1 to 1.
DENSITY_FEATURE_GAIN = 10.0


class PatchEncoder(nn.Module):
    """3-D CNN that embeds one cubic patch.

    The input is raw HU and the lung label map, so serving passes the bag arrays
    unchanged. The encoder clips HU to ``hu_clip`` and scales it to [-1, 1]. It stacks
    three channels: scaled HU, the binary lung mask, and a data mask. The data mask is 0
    where ``hu`` is ``NO_DATA_HU`` (outside the working grid or the field of view), and
    scaled HU is set to 0 there, so no-data voxels are never read as a density.

    Each stage is two 3x3x3 convolutions with GroupNorm and ReLU. Every stage but the
    last halves the grid with average pooling, and global average pooling plus a linear
    layer gives the embedding. GroupNorm keeps the output of a patch independent of the
    other patches in the batch.

    GroupNorm also removes most of a patch's absolute density level from the features.
    With ``density_features``, statistics of the patch's lung voxels join the pooled
    features before the linear layer. They are the mean scaled HU, the share below
    -950 HU (%LAA-950 as a fraction) and the share from -600 to -250 HU (%HAA), or, with
    ``density_edges``, the mean scaled HU and the share of lung voxels in each HU bin
    those edges bound (a density histogram, which separates mild ground glass from normal
    lung where the two thresholds cannot).

    Args:
        channels: Output channels per stage.
        embedding_dim: D.
        hu_clip: ``(low, high)`` HU window.
        density_features: Append the lung density statistics to the pooled features.
        density_edges: Increasing HU bin edges of the density histogram; empty for the
            LAA-950 and HAA shares.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64),
        embedding_dim: int = 64,
        hu_clip: Sequence[float] = (-1024.0, 600.0),
        density_features: bool = False,
        density_edges: Sequence[float] = (),
    ) -> None:
        super().__init__()
        self.hu_low = float(hu_clip[0])
        self.hu_high = float(hu_clip[1])
        layers: list[nn.Module] = []
        in_channels = 3
        for stage, out_channels in enumerate(channels):
            for conv_in in (in_channels, out_channels):
                layers += [
                    nn.Conv3d(
                        conv_in, out_channels, kernel_size=3, padding=1, bias=False
                    ),
                    nn.GroupNorm(_group_count(out_channels), out_channels),
                    nn.ReLU(inplace=True),
                ]
            if stage < len(channels) - 1:
                layers.append(nn.AvgPool3d(kernel_size=2))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.density_features = density_features
        self.density_edges = tuple(float(edge) for edge in density_edges)
        density_count = 0
        if density_features:
            density_count = (
                len(self.density_edges) + 2
                if self.density_edges
                else DENSITY_FEATURE_COUNT
            )
        self.project = nn.Linear(in_channels + density_count, embedding_dim)
        self.embedding_dim = embedding_dim

    def forward(self, hu: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embed patches.

        Args:
            hu: ``[B, S, S, S]`` HU, any numeric dtype (int16 from ``hu.npy``).
            mask: ``[B, S, S, S]`` lung labels, any numeric dtype (0 outside the lung).

        Returns:
            float32 ``[B, D]`` embeddings.
        """
        hu = hu.float()
        valid = (hu > NO_DATA_HU + 0.5).float()
        clipped = torch.clamp(hu, self.hu_low, self.hu_high)
        scaled = (
            (clipped - self.hu_low) * (2.0 / (self.hu_high - self.hu_low)) - 1.0
        ) * valid
        lung = (mask.float() > 0.5).float()
        x = torch.stack([scaled, lung, valid], dim=1)
        x = self.pool(self.features(x)).flatten(1)
        if self.density_features:
            density = lung_density_features(
                hu, scaled, lung * valid, self.density_edges or None
            )
            x = torch.cat([x, density], dim=1)
        return self.project(x)


def lung_density_features(
    hu: torch.Tensor,
    scaled: torch.Tensor,
    lung: torch.Tensor,
    edges: Sequence[float] | None = None,
) -> torch.Tensor:
    """Compute mean scaled HU and density shares of each patch's lung.

    Args:
        hu: ``[B, S, S, S]`` float HU.
        scaled: ``[B, S, S, S]`` HU after clipping and scaling to [-1, 1].
        lung: ``[B, S, S, S]`` 1 for lung voxels with data, else 0.
        edges: Increasing HU edges ``e_1 < ... < e_K``: the shares are then those of
            ``hu < e_1``, ``e_k <= hu < e_k+1`` and ``hu >= e_K``. None gives the
            LAA-950 share (below -950 HU) and the HAA share (-600 to -250 HU).

    Returns:
        ``[B, 3]`` (no edges) or ``[B, K + 2]``, each multiplied by
        ``DENSITY_FEATURE_GAIN``; all are 0 for a patch without lung voxels.
    """
    lung_count = lung.sum(dim=(1, 2, 3)).clamp(min=1.0)
    if edges is None:
        masks = [
            hu < -950.0,
            (hu >= -600.0) & (hu <= -250.0),
        ]
    else:
        bounds = [None, *edges, None]
        masks = [
            _in_bin(hu, low, high) for low, high in zip(bounds[:-1], bounds[1:])
        ]
    shares = [
        (mask.float() * lung).sum(dim=(1, 2, 3)) / lung_count for mask in masks
    ]
    mean = (scaled * lung).sum(dim=(1, 2, 3)) / lung_count
    return torch.stack([mean, *shares], dim=1) * DENSITY_FEATURE_GAIN


def _in_bin(hu: torch.Tensor, low: float | None, high: float | None) -> torch.Tensor:
    if low is None:
        return hu < high
    if high is None:
        return hu >= low
    return (hu >= low) & (hu < high)


def _group_count(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0 and channels // groups >= 2:
            return groups
    return 1


class DlcoModel(nn.Module):
    """Encoder, aggregator and optional auxiliary heads, as trained together.

    Auxiliary heads predict normalised age, BMI and pack-years and a sex logit from the
    image-only ``bag_embedding``; they add supervision in training and are not exported.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        num_zone_codes: int,
        metadata_mean: Sequence[float],
        metadata_std: Sequence[float],
        conductance_scale: float,
        log_variance_init: float,
    ) -> None:
        super().__init__()
        self.encoder = PatchEncoder(
            config.encoder_channels,
            config.embedding_dim,
            config.hu_clip,
            density_features=config.encoder_density_features,
            density_edges=config.encoder_density_edges,
        )
        self.aggregator_pooling = config.pooling
        aggregator_class = {
            "additive": AdditiveAggregator,
            "attention": AttentionAggregator,
            "retained_fraction": RetainedFractionAggregator,
        }[config.pooling]
        self.aggregator = aggregator_class(
            config,
            num_zone_codes=num_zone_codes,
            metadata_mean=metadata_mean,
            metadata_std=metadata_std,
            conductance_scale=conductance_scale,
            log_variance_init=log_variance_init,
        )
        self.aux_targets = [
            name for name in AUX_TARGETS if name in config.aux_loss_weights
        ]
        self.aux_heads = nn.ModuleDict(
            {name: nn.Linear(config.embedding_dim, 1) for name in self.aux_targets}
        )

    def forward(
        self,
        hu: torch.Tensor,
        mask: torch.Tensor,
        lung_ml: torch.Tensor,
        zone: torch.Tensor,
        side: torch.Tensor,
        counts: Sequence[int],
        metadata: torch.Tensor,
        volume_scale: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run a batch of bags whose patches are concatenated.

        Args:
            hu, mask: ``[P, S, S, S]`` patches of all bags.
            lung_ml, zone, side: ``[P]`` per-patch values.
            counts: Patches per bag (length B, summing to P).
            metadata: ``[B, M]`` raw metadata.
            volume_scale: ``[B]`` or None (see ``AdditiveAggregator.forward``).

        Returns:
            ``dlco``, ``sigma``, ``log_variance`` ``[B]``; ``contributions`` ``[P]``;
            ``aux_<target>`` ``[B]`` for each auxiliary head.
        """
        embeddings = self.encoder(hu, mask)
        outputs = self.aggregate(
            embeddings, lung_ml, zone, side, counts, metadata, volume_scale
        )
        return outputs

    def aggregate(
        self,
        embeddings: torch.Tensor,
        lung_ml: torch.Tensor,
        zone: torch.Tensor,
        side: torch.Tensor,
        counts: Sequence[int],
        metadata: torch.Tensor,
        volume_scale: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Aggregate precomputed embeddings ``[P, D]``; see ``forward``."""
        per_bag: dict[str, list[torch.Tensor]] = {}
        start = 0
        for index, count in enumerate(counts):
            part = slice(start, start + count)
            start += count
            scale = None if volume_scale is None else volume_scale[index]
            result = self.aggregator(
                embeddings[part],
                lung_ml[part],
                zone[part],
                side[part],
                metadata[index],
                scale,
            )
            for name in ("dlco", "sigma", "log_variance", "contributions"):
                per_bag.setdefault(name, []).append(result[name])
            for name in self.aux_targets:
                per_bag.setdefault(f"aux_{name}", []).append(
                    self.aux_heads[name](result["bag_embedding"])
                )
        return {name: torch.cat(values) for name, values in per_bag.items()}


def build_model(config: TrainConfig, stats: dict) -> DlcoModel:
    """Build a model from a configuration and the statistics ``train`` derives from data.

    Args:
        config: The run's configuration.
        stats: ``num_zone_codes``, ``metadata_mean``, ``metadata_std``,
            ``conductance_scale`` (ml/min/mmHg per mL) and ``log_variance_init``.
    """
    return DlcoModel(
        config,
        num_zone_codes=stats["num_zone_codes"],
        metadata_mean=stats["metadata_mean"],
        metadata_std=stats["metadata_std"],
        conductance_scale=stats["conductance_scale"],
        log_variance_init=stats["log_variance_init"],
    )
