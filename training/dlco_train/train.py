"""Train the DLCO model on patch bags.

Usage::

    python -m dlco_train.train --config CONFIG.json --bags BAGS --manifest manifest.csv \\
        --out RUN_DIR [--seed N] [--resume]
    torchrun --nproc_per_node 4 -m dlco_train.train ...   # one process per GPU

Training samples K patches per bag and step (``patches_per_bag``). Because the additive
estimate is a sum over patches, a subsample would underestimate DLCO, so its sum is
multiplied by the bag's total lung mL over the sampled lung mL (``volume_scale``); the
attention estimate is multiplied the same way since it uses the sampled lung volume.
Validation and test use every patch.

The run folder receives ``config.json`` (resolved configuration), ``seed.txt``,
``run.json`` (derived statistics, preprocessing parameters and hash, zone table),
``checkpoint-last.pt`` after every epoch, ``checkpoint-best.pt`` (lowest validation MAE),
``learning-curves.csv``, ``metrics.json``, ``predictions.csv``, ``baseline.json``,
``cohort.json`` and ``reference-patch-hu.npy``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .bags import Bag
from .baseline import LinearBaseline
from .config import TrainConfig, load_config
from .dataset import (
    METADATA_INDEX,
    BagBatch,
    BagDataset,
    ManifestRow,
    collate_bags,
    load_split_datasets,
)
from .distributed import DistributedContext, setup_distributed, teardown_distributed
from .jsonio import write_json
from .metrics import INTERVAL_Z, regression_metrics
from .model import DlcoModel, build_model
from .summaries import derive_model_stats, reference_patch, summarise_cohort

logger = logging.getLogger(__name__)

__all__ = ["run_training", "evaluate", "compute_loss", "load_checkpoint", "main"]

CHECKPOINT_LAST = "checkpoint-last.pt"
CHECKPOINT_BEST = "checkpoint-best.pt"
CURVE_COLUMNS = (
    "epoch",
    "train_loss",
    "train_mae",
    "val_loss",
    "val_mae",
    "val_rmse",
    "val_r",
    "val_coverage95",
    "learning_rate",
    "seconds",
)


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
            standardised = (values[present] - stats["metadata_mean"][index]) / stats[
                "metadata_std"
            ][index]
            aux = F.mse_loss(prediction, standardised)
        loss = loss + weight * aux
        parts[f"aux_{name}"] = float(aux.detach())
    return loss, parts


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
        embeddings = torch.cat(
            [
                model.encoder(
                    item.hu[start : start + chunk_patches].to(device),
                    item.mask[start : start + chunk_patches].to(device),
                )
                for start in range(0, item.hu.shape[0], chunk_patches)
            ]
        )
        outputs = model.aggregate(
            embeddings,
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


def _nll(values: dict[str, np.ndarray]) -> float:
    if values["dlco"].size == 0:
        return math.nan
    error = values["dlco"] - values["target"]
    return float(
        np.mean(
            0.5 * (values["log_variance"] + error**2 * np.exp(-values["log_variance"]))
        )
    )


def _set_determinism(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if device.type == "cpu":
        # CPU kernels are deterministic for a fixed thread count; this makes any op
        # without a deterministic implementation warn instead of silently differing.
        torch.use_deterministic_algorithms(True, warn_only=True)


def _save_checkpoint(path: str, state: dict[str, Any]) -> None:
    temporary = f"{path}.tmp"
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by ``run_training`` onto the CPU."""
    return torch.load(path, map_location="cpu")


def model_from_checkpoint(checkpoint: dict[str, Any]) -> tuple[DlcoModel, TrainConfig]:
    """Rebuild the model of a checkpoint in evaluation mode."""
    config = TrainConfig.from_dict(checkpoint["config"])
    model = build_model(config, checkpoint["stats"])
    model.load_state_dict(checkpoint["model"])
    return model.eval(), config


def _write_curves(path: str, history: Sequence[dict[str, float]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({key: row.get(key, "") for key in CURVE_COLUMNS})


def _resolve_resume(
    out_dir: str, config: TrainConfig, resume: bool
) -> dict[str, Any] | None:
    last = os.path.join(out_dir, CHECKPOINT_LAST)
    if not os.path.exists(last):
        if resume:
            logger.info("no %s in %s; starting from scratch", CHECKPOINT_LAST, out_dir)
        return None
    if not resume:
        raise ValueError(
            f"{out_dir} already contains {CHECKPOINT_LAST}; pass --resume to continue it "
            "or choose another --out folder"
        )
    checkpoint = load_checkpoint(last)
    saved = dict(checkpoint["config"])
    current = config.to_dict()
    differing = sorted(
        key for key in current if key != "epochs" and saved.get(key) != current[key]
    )
    if differing:
        raise ValueError(
            f"cannot resume {last}: config differs in {differing}; only 'epochs' may change"
        )
    return checkpoint


def _train_one_epoch(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    stats: dict[str, Any],
    device: torch.device,
) -> dict[str, float]:
    model.train()
    total_loss = total_abs_error = 0.0
    bag_count = 0
    for batch in loader:
        outputs = model(
            batch.hu.to(device),
            batch.mask.to(device),
            batch.lung_ml.to(device),
            batch.zone.to(device),
            batch.side.to(device),
            batch.counts,
            batch.metadata.to(device),
            batch.volume_scale.to(device),
        )
        loss, _ = compute_loss(outputs, batch, config, stats)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
        size = len(batch.counts)
        total_loss += float(loss.detach()) * size
        total_abs_error += float(
            (outputs["dlco"].detach().cpu() - batch.target).abs().sum()
        )
        bag_count += size
    return {
        "train_loss": total_loss / bag_count,
        "train_mae": total_abs_error / bag_count,
    }


def _make_loader(
    dataset: BagDataset, config: TrainConfig, context: DistributedContext, epoch: int
) -> torch.utils.data.DataLoader:
    dataset.set_epoch(epoch)
    if context.enabled:
        sampler = torch.utils.data.distributed.DistributedSampler(
            dataset,
            num_replicas=context.world_size,
            rank=context.rank,
            shuffle=True,
            seed=config.seed,
        )
        sampler.set_epoch(epoch)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=config.bags_per_batch,
            sampler=sampler,
            collate_fn=collate_bags,
        )
    # A generator per epoch makes the order depend on (seed, epoch) only, so resuming
    # at epoch e shuffles exactly as an uninterrupted run does.
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=config.bags_per_batch,
        shuffle=True,
        generator=generator,
        collate_fn=collate_bags,
    )


def run_training(
    config: TrainConfig,
    bags_dir: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """Train, checkpoint every epoch, then evaluate the best epoch and the baseline.

    Args:
        config: Resolved configuration (``config.seed`` seeds everything).
        bags_dir: Folder with one bag folder per manifest id.
        manifest_path: Manifest CSV.
        out_dir: Run folder; see the module docstring for what it receives.
        resume: Continue from ``checkpoint-last.pt`` in ``out_dir``.
        device: ``"cpu"``, ``"cuda"`` or None for CUDA when available.

    Returns:
        The content of ``metrics.json``.

    Raises:
        ValueError: For invalid inputs, or an existing run in ``out_dir`` without
            ``resume``.
    """
    out_dir = os.fspath(out_dir)
    context = setup_distributed(device)
    try:
        return _run(
            config,
            os.fspath(bags_dir),
            os.fspath(manifest_path),
            out_dir,
            resume,
            context,
        )
    finally:
        teardown_distributed(context)


def _run(
    config: TrainConfig,
    bags_dir: str,
    manifest_path: str,
    out_dir: str,
    resume: bool,
    context: DistributedContext,
) -> dict[str, Any]:
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    os.makedirs(out_dir, exist_ok=True)
    checkpoint = _resolve_resume(out_dir, config, resume)

    groups, split_of = load_split_datasets(
        bags_dir,
        manifest_path,
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        skip_missing_bags=config.skip_missing_bags,
    )
    train_bags, train_rows = groups["train"]
    all_bags = [bag for bags, _ in groups.values() for bag in bags]
    stats = (
        checkpoint["stats"]
        if checkpoint
        else derive_model_stats(train_bags, train_rows, all_bags)
    )
    first_bag = train_bags[0]
    preprocessing = {
        "parameters": first_bag.preprocessing,
        "hash": first_bag.preprocessing_hash,
        "bagFormatVersion": first_bag.format_version,
        "zones": first_bag.meta.get("zones", {}),
    }

    _set_determinism(config.seed, context.device)
    model = build_model(config, stats).to(context.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    history: list[dict[str, float]] = []
    best = {"epoch": -1, "val_mae": math.inf}
    start_epoch = 0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        history, best, start_epoch = (
            checkpoint["history"],
            checkpoint["best"],
            checkpoint["epoch"] + 1,
        )
        logger.info("resuming %s at epoch %d", out_dir, start_epoch)

    if context.is_main:
        write_json(os.path.join(out_dir, "config.json"), config.to_dict())
        with open(os.path.join(out_dir, "seed.txt"), "w", encoding="utf-8") as f:
            f.write(f"{config.seed}\n")
        write_json(
            os.path.join(out_dir, "run.json"),
            {
                "stats": stats,
                "preprocessing": preprocessing,
                "splits": {name: len(rows) for name, (_, rows) in groups.items()},
                "torchVersion": torch.__version__,
                "worldSize": context.world_size,
            },
        )

    trained = model
    if context.enabled:
        trained = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[context.local_rank] if context.device.type == "cuda" else None,
            find_unused_parameters=config.loss != "gaussian_nll",
        )
    dataset = BagDataset(
        train_bags, train_rows, config.patches_per_bag, seed=config.seed
    )
    val_bags, val_rows = groups["val"]
    for epoch in range(start_epoch, config.epochs):
        started = time.monotonic()
        loader = _make_loader(dataset, config, context, epoch)
        row: dict[str, float] = {"epoch": epoch}
        row.update(
            _train_one_epoch(trained, loader, optimizer, config, stats, context.device)
        )
        if context.is_main:
            if val_rows:
                values = evaluate(
                    model,
                    val_bags,
                    val_rows,
                    device=context.device,
                    chunk_patches=config.eval_chunk_patches,
                )
                metrics = regression_metrics(
                    values["target"], values["dlco"], values["sigma"], bootstrap=0
                )
                row.update(
                    val_loss=_nll(values),
                    val_mae=metrics["mae"],
                    val_rmse=metrics["rmse"],
                    val_r=metrics["r"],
                    val_coverage95=metrics["coverage95"],
                )
            score = row.get("val_mae", row["train_mae"])
            row.update(
                learning_rate=optimizer.param_groups[0]["lr"],
                seconds=time.monotonic() - started,
            )
            history.append(row)
            state = {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "config": config.to_dict(),
                "stats": stats,
                "preprocessing": preprocessing,
                "history": history,
                "best": best,
                "torch_version": torch.__version__,
            }
            if score < best["val_mae"]:
                best = {"epoch": epoch, "val_mae": score}
                state["best"] = best
                _save_checkpoint(os.path.join(out_dir, CHECKPOINT_BEST), state)
            _save_checkpoint(os.path.join(out_dir, CHECKPOINT_LAST), state)
            _write_curves(os.path.join(out_dir, "learning-curves.csv"), history)
            val_mae = f"{row['val_mae']:.3f}" if "val_mae" in row else "n/a"
            logger.info(
                "epoch %d: train loss %.4f, train MAE %.3f, val MAE %s (%.1f s)",
                epoch,
                row["train_loss"],
                row["train_mae"],
                val_mae,
                row["seconds"],
            )
        context.barrier()

    if not context.is_main:
        return {}
    return _finish(out_dir, groups, split_of, config, context.device)


def _finish(
    out_dir: str,
    groups: dict[str, Any],
    split_of: dict[str, str],
    config: TrainConfig,
    device: torch.device,
) -> dict[str, Any]:
    """Evaluate the best checkpoint and the baseline, and write the run summaries."""
    best_path = os.path.join(out_dir, CHECKPOINT_BEST)
    if not os.path.exists(best_path):
        raise ValueError(
            f"{best_path} not found; train for at least one epoch (epochs = {config.epochs})"
        )
    checkpoint = load_checkpoint(best_path)
    model, _ = model_from_checkpoint(checkpoint)
    model.to(device)

    train_bags, train_rows = groups["train"]
    baseline = None
    try:
        baseline = LinearBaseline.fit(train_bags, train_rows)
        write_json(os.path.join(out_dir, "baseline.json"), baseline.to_json())
    except ValueError as error:
        logger.warning("baseline not fitted: %s", error)

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
        split_metrics = {
            "model": regression_metrics(
                values["target"], values["dlco"], values["sigma"], seed=config.seed
            )
        }
        baseline_values = (
            baseline.predict(bags, rows) if baseline else np.full(len(rows), np.nan)
        )
        kept = np.isfinite(baseline_values)
        if baseline is not None and kept.any():
            split_metrics["baseline"] = regression_metrics(
                values["target"][kept], baseline_values[kept], seed=config.seed
            )
        metrics[split] = split_metrics
        for index, row in enumerate(rows):
            estimate, sigma = values["dlco"][index], values["sigma"][index]
            predictions.append(
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

    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    with open(
        os.path.join(out_dir, "predictions.csv"), "w", newline="", encoding="utf-8"
    ) as f:
        writer = csv.DictWriter(
            f,
            fieldnames=[
                "id",
                "split",
                "dlco",
                "estimate",
                "sigma",
                "interval_low",
                "interval_high",
                "baseline",
            ],
        )
        writer.writeheader()
        writer.writerows(predictions)
    write_json(os.path.join(out_dir, "cohort.json"), summarise_cohort(groups))

    patch, description = reference_patch(train_bags, train_rows, seed=config.seed)
    if patch is not None:
        np.save(os.path.join(out_dir, "reference-patch-hu.npy"), patch)
    write_json(os.path.join(out_dir, "reference-patch.json"), description)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train the patch-based DLCO model on patch bags."
    )
    parser.add_argument(
        "--config", help="JSON file with TrainConfig fields; defaults fill the rest"
    )
    parser.add_argument(
        "--bags", required=True, help="folder with one bag folder per manifest id"
    )
    parser.add_argument(
        "--manifest", required=True, help="manifest CSV (id, dlco, age, sex, ...)"
    )
    parser.add_argument(
        "--out", required=True, help="run folder for checkpoints, curves and metrics"
    )
    parser.add_argument("--seed", type=int, help="seed; overrides the config's seed")
    parser.add_argument(
        "--epochs", type=int, help="number of epochs; overrides the config"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from OUT/checkpoint-last.pt"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], help="default: cuda when available"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    try:
        config = load_config(args.config, seed=args.seed, epochs=args.epochs)
        metrics = run_training(
            config,
            args.bags,
            args.manifest,
            args.out,
            resume=args.resume,
            device=args.device,
        )
    except (ValueError, OSError) as error:
        logger.error("training failed: %s", error)
        return 2
    for split in ("val", "test"):
        if split in metrics:
            logger.info(
                "%s: %s",
                split,
                json.dumps({k: v.get("mae") for k, v in metrics[split].items()}),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
