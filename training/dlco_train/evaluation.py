"""Whole-bag evaluation and the end-of-run report (metrics, predictions, summaries)."""

from __future__ import annotations

import csv
import logging
import math
import os
from typing import Any, Sequence

import numpy as np
import torch

from .bags import Bag
from .baseline import LinearBaseline
from .checkpoints import CHECKPOINT_BEST, load_checkpoint, model_from_checkpoint
from .config import TrainConfig
from .dataset import BagDataset, collate_bags
from .jsonio import write_json
from .manifest import ManifestRow
from .metrics import INTERVAL_Z, regression_metrics
from .model import DlcoModel
from .model_card import summarise_training_data
from .summaries import reference_patch, summarise_cohort

logger = logging.getLogger(__name__)

__all__ = ["evaluate", "gaussian_nll", "write_run_report"]

PREDICTION_COLUMNS = (
    "id",
    "split",
    "dlco",
    "estimate",
    "sigma",
    "interval_low",
    "interval_high",
    "baseline",
)


@torch.no_grad()
def evaluate(
    model: DlcoModel,
    bags: Sequence[Bag],
    rows: Sequence[ManifestRow],
    *,
    device: torch.device,
    chunk_patches: int = 512,
) -> dict[str, np.ndarray]:
    """Estimate DLCO for every bag using all of its patches.

    Args:
        model: The model; it is put in evaluation mode.
        bags: Bags to score.
        rows: Their manifest rows, for metadata and targets.
        device: Where to run.
        chunk_patches: Patches per encoder call, to bound memory on large bags.

    Returns:
        ``dlco``, ``sigma`` and ``target`` arrays ``[n]`` in ml/min/mmHg, and
        ``log_variance`` ``[n]``.
    """
    model.eval()
    results: dict[str, list[float]] = {
        "dlco": [],
        "sigma": [],
        "log_variance": [],
        "target": [],
    }
    dataset = BagDataset(bags, rows, patches_per_bag=None)
    for index in range(len(dataset)):
        item = collate_bags([dataset[index]])
        chunks = [
            model.encoder(
                item.hu[start : start + chunk_patches].to(device),
                item.mask[start : start + chunk_patches].to(device),
            )
            for start in range(0, item.hu.shape[0], chunk_patches)
        ]
        outputs = model.aggregate(
            torch.cat(chunks),
            item.lung_ml.to(device),
            item.zone.to(device),
            item.side.to(device),
            item.counts,
            item.metadata.to(device),
        )
        for name in ("dlco", "sigma", "log_variance"):
            results[name].append(float(outputs[name][0]))
        results["target"].append(float(item.target[0]))
    return {name: np.array(values) for name, values in results.items()}


def gaussian_nll(values: dict[str, np.ndarray]) -> float:
    """Mean Gaussian negative log-likelihood (constant dropped) of ``evaluate`` output."""
    if values["dlco"].size == 0:
        return math.nan
    error = values["dlco"] - values["target"]
    log_variance = values["log_variance"]
    return float(np.mean(0.5 * (log_variance + error**2 * np.exp(-log_variance))))


def _fit_baseline(out_dir: str, bags: Sequence[Bag], rows: Sequence[ManifestRow]):
    try:
        baseline = LinearBaseline.fit(bags, rows)
    except ValueError as error:
        logger.warning("baseline not fitted: %s", error)
        return None
    write_json(os.path.join(out_dir, "baseline.json"), baseline.to_json())
    return baseline


def _prediction_rows(split, rows, values, baseline_values) -> list[dict[str, Any]]:
    table = []
    for index, row in enumerate(rows):
        estimate, sigma = values["dlco"][index], values["sigma"][index]
        table.append(
            {
                "id": row.scan_id,
                "split": split,
                "dlco": row.dlco,
                "estimate": estimate,
                "sigma": sigma,
                "interval_low": estimate - INTERVAL_Z * sigma,
                "interval_high": estimate + INTERVAL_Z * sigma,
                "baseline": baseline_values[index],
            }
        )
    return table


def write_run_report(
    out_dir: str,
    groups: dict[str, tuple[list[Bag], list[ManifestRow]]],
    config: TrainConfig,
    device: torch.device,
) -> dict[str, Any]:
    """Evaluate the best checkpoint and the baseline on val and test, and write reports.

    Writes ``baseline.json``, ``metrics.json``, ``predictions.csv``, ``cohort.json``,
    ``reference-patch.json`` and, when a patch lies entirely in the lung,
    ``reference-patch-hu.npy`` into ``out_dir``.

    Returns:
        The content of ``metrics.json``: ``bestEpoch``, ``intervalZ`` and per split
        ``model`` and ``baseline`` metrics (see ``regression_metrics``).

    Raises:
        ValueError: If the run has no ``checkpoint-best.pt``.
    """
    best_path = os.path.join(out_dir, CHECKPOINT_BEST)
    if not os.path.exists(best_path):
        raise ValueError(
            f"{best_path} not found; train for at least one epoch (epochs = {config.epochs})"
        )
    checkpoint = load_checkpoint(best_path)
    model, _ = model_from_checkpoint(checkpoint)
    model.to(device)
    train_bags, train_rows = groups["train"]
    baseline = _fit_baseline(out_dir, train_bags, train_rows)

    metrics: dict[str, Any] = {
        "bestEpoch": checkpoint["epoch"],
        "intervalZ": INTERVAL_Z,
    }
    predictions = []
    for split in ("val", "test"):
        bags, rows = groups[split]
        if not rows:
            continue
        values = evaluate(
            model, bags, rows, device=device, chunk_patches=config.eval_chunk_patches
        )
        target, estimate, sigma = values["target"], values["dlco"], values["sigma"]
        metrics[split] = {
            "model": regression_metrics(target, estimate, sigma, seed=config.seed)
        }
        baseline_values = np.full(len(rows), np.nan)
        if baseline is not None:
            baseline_values = baseline.predict(bags, rows)
        has_baseline = np.isfinite(baseline_values)
        if has_baseline.any():
            metrics[split]["baseline"] = regression_metrics(
                target[has_baseline], baseline_values[has_baseline], seed=config.seed
            )
        predictions += _prediction_rows(split, rows, values, baseline_values)

    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    predictions_path = os.path.join(out_dir, "predictions.csv")
    with open(predictions_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=PREDICTION_COLUMNS)
        writer.writeheader()
        writer.writerows(predictions)
    cohort = summarise_training_data(train_rows)
    cohort.update(summarise_cohort(groups))
    write_json(os.path.join(out_dir, "cohort.json"), cohort)

    patch, description = reference_patch(train_bags, train_rows, seed=config.seed)
    if patch is not None:
        np.save(os.path.join(out_dir, "reference-patch-hu.npy"), patch)
    write_json(os.path.join(out_dir, "reference-patch.json"), description)
    return metrics
