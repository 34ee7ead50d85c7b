"""Checkpoint files of a training run: save, load, rebuild the model, resume checks."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from .config import TrainConfig
from .manifest import METADATA_FEATURES
from .model import DlcoModel, build_model

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_LAST",
    "CHECKPOINT_BEST",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "resolve_resume",
]

CHECKPOINT_LAST = "checkpoint-last.pt"
CHECKPOINT_BEST = "checkpoint-best.pt"


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save``, replacing ``path`` only once it is complete."""
    temporary = f"{path}.tmp"
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by ``run_training`` onto the CPU.

    The dict has ``epoch`` (last completed, from 0), ``model`` and ``optimizer`` state
    dicts, ``config``, ``stats`` (see ``derive_model_stats``), ``preprocessing``
    (parameters, hash, bag format version and zone table of the training bags),
    ``history`` (learning-curve rows) and ``best`` (epoch and validation MAE).
    """
    # NOTE: checkpoints are pickles, so load only files from a trusted run. PyTorch 2.6
    # made weights_only=True the default, and the 1.13 weights-only unpickler rejects the
    # plain floats in "stats" and "history", hence the explicit False on every version.
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(checkpoint: dict[str, Any]) -> tuple[DlcoModel, TrainConfig]:
    """Rebuild the model of a checkpoint in evaluation mode."""
    config = TrainConfig.from_dict(checkpoint["config"])
    _require_current_metadata(checkpoint["stats"])
    model = build_model(config, checkpoint["stats"])
    model.load_state_dict(checkpoint["model"])
    return model.eval(), config


def _require_current_metadata(stats: dict[str, Any]) -> None:
    """Reject a checkpoint whose metadata vector differs from ``METADATA_FEATURES``."""
    current = [name for name, _ in METADATA_FEATURES]
    saved = stats.get("metadata_features", current)
    if list(saved) != current:
        raise ValueError(
            f"the checkpoint was trained on {len(saved)} metadata features {list(saved)}, "
            f"but this dlco_train builds {len(current)}: {current}; retrain it, or load "
            "it with the dlco_train version that wrote it"
        )


def resolve_resume(
    out_dir: str, config: TrainConfig, resume: bool
) -> dict[str, Any] | None:
    """Return the checkpoint to resume from, or None to start a new run.

    Raises:
        ValueError: If ``out_dir`` has a checkpoint and ``resume`` is False, or the
            checkpoint's configuration differs from ``config`` in anything but
            ``epochs``.
    """
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
    _require_current_metadata(checkpoint["stats"])
    # A field added to TrainConfig after the checkpoint was saved counts as its default.
    saved = {**TrainConfig().to_dict(), **checkpoint["config"]}
    current = config.to_dict()
    differing = sorted(
        key for key in current if key != "epochs" and saved.get(key) != current[key]
    )
    if differing:
        raise ValueError(
            f"cannot resume {last}: config differs in {differing}; only 'epochs' may change"
        )
    return checkpoint
