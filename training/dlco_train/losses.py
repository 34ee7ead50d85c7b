"""Training loss: Gaussian negative log-likelihood plus optional auxiliary terms."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from .config import TrainConfig
from .dataset import BagBatch
from .manifest import METADATA_INDEX

__all__ = ["compute_loss"]


def compute_loss(
    outputs: dict[str, torch.Tensor],
    batch: BagBatch,
    config: TrainConfig,
    stats: dict[str, Any],
) -> tuple[torch.Tensor, dict[str, float]]:
    """Compute the training loss of one batch.

    The main term is the Gaussian negative log-likelihood
    ``0.5 * (log_variance + (dlco - target)^2 / variance)`` (constant dropped), or the
    squared error divided by the training DLCO variance for ``loss = "mse"``. Each
    auxiliary head adds its weight times a loss on its target, standardised with the
    training metadata statistics: squared error for age, BMI and pack-years, binary
    cross-entropy for sex. Subjects whose auxiliary target is missing are left out.

    Args:
        outputs: ``DlcoModel.forward`` outputs for the batch.
        batch: The batch, with ``target`` ``[B]`` in ml/min/mmHg.
        config: The run's configuration.
        stats: ``derive_model_stats`` output.

    Returns:
        The scalar loss and its parts as floats.
    """
    target = batch.target.to(outputs["dlco"].device)
    error = outputs["dlco"] - target
    if config.loss == "gaussian_nll":
        log_variance = outputs["log_variance"]
        main = 0.5 * (log_variance + error**2 * torch.exp(-log_variance))
    else:
        main = error**2 / math.exp(stats["log_variance_init"])
    loss = main.mean()
    parts = {"main": float(loss.detach())}

    metadata = batch.metadata.to(target.device)
    for name, weight in config.aux_loss_weights.items():
        feature = "sex_male" if name == "sex" else name
        index = METADATA_INDEX[feature]
        values = metadata[:, index]
        present = ~torch.isnan(values)
        if not bool(present.any()) or weight == 0:
            continue
        prediction = outputs[f"aux_{name}"][present]
        if name == "sex":
            aux = F.binary_cross_entropy_with_logits(prediction, values[present])
        else:
            mean = stats["metadata_mean"][index]
            std = stats["metadata_std"][index]
            aux = F.mse_loss(prediction, (values[present] - mean) / std)
        loss = loss + weight * aux
        parts[f"aux_{name}"] = float(aux.detach())
    return loss, parts
