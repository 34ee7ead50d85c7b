"""Train the DLCO model on patch bags.

Usage::

    python -m dlco_train.train --config CONFIG.json --bags BAGS --manifest manifest.csv \\
        --out RUN_DIR [--seed N] [--resume]
    torchrun --nproc_per_node 4 -m dlco_train.train ...   # one process per GPU

Training samples K patches per bag and step (``patches_per_bag``). The additive estimate
is a sum over patches, so a subsample would underestimate DLCO. Its sum is therefore
multiplied by the bag's total lung mL over the sampled lung mL (``volume_scale``), and
the attention estimate, which uses the sampled lung volume, is multiplied the same way.
Validation and test use every patch.

The run folder receives ``config.json`` (resolved configuration), ``seed.txt``,
``run.json`` (derived statistics, preprocessing parameters and hash, zone table),
``checkpoint-last.pt`` after every epoch, ``checkpoint-best.pt`` (lowest validation MAE),
``learning-curves.csv``, and at the end the files of ``write_run_report``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch

from .bags import Bag
from .checkpoints import (
    CHECKPOINT_BEST,
    CHECKPOINT_LAST,
    load_checkpoint,
    model_from_checkpoint,
    resolve_resume,
    save_checkpoint,
)
from .config import TrainConfig, load_config
from .dataset import BagDataset, collate_bags, load_split_datasets
from .distributed import DistributedContext, setup_distributed, teardown_distributed
from .evaluation import evaluate, gaussian_nll, write_run_report
from .jsonio import write_json
from .losses import compute_loss
from .manifest import METADATA_INDEX, ManifestRow
from .metrics import regression_metrics
from .model import DlcoModel, build_model
from .summaries import derive_model_stats

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_BEST",
    "CHECKPOINT_LAST",
    "run_training",
    "load_checkpoint",
    "model_from_checkpoint",
    "main",
]

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


@dataclasses.dataclass
class _RunState:
    """Mutable training state, saved in every checkpoint."""

    model: DlcoModel
    optimizer: torch.optim.Optimizer
    history: list[dict[str, float]]
    best: dict[str, float]
    start_epoch: int


def _set_determinism(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if device.type == "cpu":
        # CPU kernels are deterministic for a fixed thread count. This makes an op
        # without a deterministic implementation warn instead of silently differing.
        torch.use_deterministic_algorithms(True, warn_only=True)


def _write_curves(path: str, history: Sequence[dict[str, float]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({key: row.get(key, "") for key in CURVE_COLUMNS})


def _preprocessing_of(bags: Sequence[Bag]) -> dict[str, Any]:
    first = bags[0]
    return {
        "parameters": first.preprocessing,
        "hash": first.preprocessing_hash,
        "bagFormatVersion": first.format_version,
        "zones": first.meta.get("zones", {}),
    }


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
        errors = outputs["dlco"].detach().cpu() - batch.target
        total_loss += float(loss.detach()) * size
        total_abs_error += float(errors.abs().sum())
        bag_count += size

    totals = torch.tensor([total_loss, total_abs_error, bag_count], dtype=torch.float64)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Sum over ranks so the curves describe every training bag, not one shard.
        totals = totals.to(device)
        torch.distributed.all_reduce(totals)
        totals = totals.cpu()
    total_loss, total_abs_error, bag_count = totals.tolist()
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


def _validate(
    model: DlcoModel,
    val: tuple[list[Bag], list[ManifestRow]],
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    bags, rows = val
    if not rows:
        return {}
    values = evaluate(
        model, bags, rows, device=device, chunk_patches=config.eval_chunk_patches
    )
    metrics = regression_metrics(
        values["target"], values["dlco"], values["sigma"], bootstrap=0
    )
    return {
        "val_loss": gaussian_nll(values),
        "val_mae": metrics["mae"],
        "val_rmse": metrics["rmse"],
        "val_r": metrics["r"],
        "val_coverage95": metrics["coverage95"],
    }


def _start_state(
    config: TrainConfig,
    stats: dict[str, Any],
    checkpoint: dict[str, Any] | None,
    device: torch.device,
) -> _RunState:
    _set_determinism(config.seed, device)
    model = build_model(config, stats).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    if checkpoint is None:
        return _RunState(model, optimizer, [], {"epoch": -1, "val_mae": math.inf}, 0)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return _RunState(
        model,
        optimizer,
        checkpoint["history"],
        checkpoint["best"],
        checkpoint["epoch"] + 1,
    )


def _write_run_files(
    out_dir: str,
    config: TrainConfig,
    stats: dict[str, Any],
    preprocessing: dict[str, Any],
    groups: dict[str, Any],
    context: DistributedContext,
) -> None:
    write_json(os.path.join(out_dir, "config.json"), config.to_dict())
    with open(os.path.join(out_dir, "seed.txt"), "w", encoding="utf-8") as f:
        f.write(f"{config.seed}\n")
    run_info = {
        "stats": stats,
        "preprocessing": preprocessing,
        "splits": {name: len(rows) for name, (_, rows) in groups.items()},
        "torchVersion": str(torch.__version__),
        "worldSize": context.world_size,
    }
    write_json(os.path.join(out_dir, "run.json"), run_info)


def _epoch_score(row: dict[str, float], *, has_val: bool) -> float | None:
    """Return the MAE that ranks this epoch, or None when it was not validated."""
    if "val_mae" in row:
        return row["val_mae"]
    # Without validation subjects the training MAE picks the best epoch.
    return None if has_val else row["train_mae"]


def _end_epoch(
    out_dir: str,
    state: _RunState,
    row: dict[str, float],
    score: float | None,
    config: TrainConfig,
    stats: dict[str, Any],
    preprocessing: dict[str, Any],
) -> None:
    """Record the epoch's row, then save the last and, if improved, the best checkpoint.

    ``score`` is the MAE that ranks epochs for the best checkpoint, or None for an
    epoch that was not validated.
    """
    state.history.append(row)
    if score is not None and score < state.best["val_mae"]:
        state.best = {"epoch": row["epoch"], "val_mae": score}
    checkpoint = {
        "epoch": row["epoch"],
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "config": config.to_dict(),
        "stats": stats,
        "preprocessing": preprocessing,
        "history": state.history,
        "best": state.best,
        "torch_version": str(torch.__version__),
    }
    if state.best["epoch"] == row["epoch"]:
        save_checkpoint(os.path.join(out_dir, CHECKPOINT_BEST), checkpoint)
    save_checkpoint(os.path.join(out_dir, CHECKPOINT_LAST), checkpoint)
    _write_curves(os.path.join(out_dir, "learning-curves.csv"), state.history)

    val_mae = f"{row['val_mae']:.3f}" if "val_mae" in row else "n/a"
    logger.info(
        "epoch %d: train loss %.4f, train MAE %.3f, val MAE %s (%.1f s)",
        row["epoch"],
        row["train_loss"],
        row["train_mae"],
        val_mae,
        row["seconds"],
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
        The content of ``metrics.json`` on the main process, an empty dict on others.

    Raises:
        ValueError: For invalid inputs, or an existing run in ``out_dir`` without
            ``resume``.
    """
    context = setup_distributed(device)
    try:
        return _run(
            config,
            os.fspath(bags_dir),
            os.fspath(manifest_path),
            os.fspath(out_dir),
            resume,
            context,
        )
    finally:
        teardown_distributed(context)


def _require_reference_values(
    config: TrainConfig, rows: Sequence[ManifestRow]
) -> None:
    """Reject retained-fraction pooling with metadata when no row has a GLI value.

    That pooling falls back to the training mean of ``gli_dlco_predicted``, which is 0
    when every value is missing, so every estimate would be 0.
    """
    if config.pooling != "retained_fraction" or not config.use_metadata:
        return
    index = METADATA_INDEX["gli_dlco_predicted"]
    if any(np.isfinite(row.metadata[index]) for row in rows):
        return
    raise ValueError(
        "pooling 'retained_fraction' needs the GLI 2017 predicted DLCO, but no "
        "training row has age, sex and height_cm inside the range of the GLI "
        "equations; add these manifest columns or set use_metadata to false"
    )


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
    checkpoint = resolve_resume(out_dir, config, resume)
    groups, _ = load_split_datasets(
        bags_dir,
        manifest_path,
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        skip_missing_bags=config.skip_missing_bags,
    )
    train_bags, train_rows = groups["train"]
    _require_reference_values(config, train_rows)
    if checkpoint is not None:
        stats = checkpoint["stats"]
    else:
        all_bags = [bag for bags, _ in groups.values() for bag in bags]
        stats = derive_model_stats(train_bags, train_rows, all_bags)
    preprocessing = _preprocessing_of(train_bags)

    state = _start_state(config, stats, checkpoint, context.device)
    if checkpoint is not None:
        logger.info("resuming %s at epoch %d", out_dir, state.start_epoch)
    if context.is_main:
        _write_run_files(out_dir, config, stats, preprocessing, groups, context)

    trained: torch.nn.Module = state.model
    if context.enabled:
        trained = torch.nn.parallel.DistributedDataParallel(
            state.model,
            device_ids=[context.local_rank] if context.device.type == "cuda" else None,
            # Under the MSE loss the variance head gets no gradient.
            find_unused_parameters=config.loss != "gaussian_nll",
        )
    dataset = BagDataset(
        train_bags, train_rows, config.patches_per_bag, seed=config.seed
    )
    for epoch in range(state.start_epoch, config.epochs):
        started = time.monotonic()
        loader = _make_loader(dataset, config, context, epoch)
        row: dict[str, float] = {"epoch": epoch}
        row.update(
            _train_one_epoch(
                trained, loader, state.optimizer, config, stats, context.device
            )
        )
        if context.is_main:
            last_epoch = epoch == config.epochs - 1
            if last_epoch or (epoch + 1) % config.validate_every == 0:
                row.update(
                    _validate(state.model, groups["val"], config, context.device)
                )
            row["learning_rate"] = state.optimizer.param_groups[0]["lr"]
            row["seconds"] = time.monotonic() - started
            _end_epoch(
                out_dir,
                state,
                row,
                _epoch_score(row, has_val=bool(groups["val"][1])),
                config,
                stats,
                preprocessing,
            )
        context.barrier()

    if not context.is_main:
        return {}
    return write_run_report(out_dir, groups, config, context.device)


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
            maes = {name: values.get("mae") for name, values in metrics[split].items()}
            logger.info("%s MAE (ml/min/mmHg): %s", split, json.dumps(maes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
