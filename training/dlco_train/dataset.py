"""Bag dataset: joins manifest rows with bags, samples patches, builds batches."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Sequence

import numpy as np
import torch

from .bags import Bag, read_bag
from .manifest import SPLITS, ManifestRow, assign_splits, read_manifest

logger = logging.getLogger(__name__)

__all__ = [
    "BagBatch",
    "BagDataset",
    "collate_bags",
    "load_split_datasets",
]


@dataclasses.dataclass
class BagBatch:
    """Patches of several bags, concatenated along the patch axis.

    Attributes:
        hu: int16 ``[P, S, S, S]`` HU, P the total patch count of the batch.
        mask: uint8 ``[P, S, S, S]`` lung labels.
        lung_ml: float32 ``[P]`` lung volume per patch, mL.
        zone: uint8 ``[P]`` zone codes.
        side: uint8 ``[P]`` 1 right, 2 left.
        counts: Patches per bag, length B.
        volume_scale: float32 ``[B]``, the bag's total lung mL divided by the lung mL of
            its sampled patches (1 when every patch is used).
        metadata: float32 ``[B, M]`` raw metadata, NaN where missing.
        target: float32 ``[B]`` DLCO, ml/min/mmHg.
        scan_ids: Bag ids, length B.
    """

    hu: torch.Tensor
    mask: torch.Tensor
    lung_ml: torch.Tensor
    zone: torch.Tensor
    side: torch.Tensor
    counts: list[int]
    volume_scale: torch.Tensor
    metadata: torch.Tensor
    target: torch.Tensor
    scan_ids: list[str]


class BagDataset(torch.utils.data.Dataset):
    """Bags of one split joined with their manifest rows.

    In training mode each item contains K patches sampled without replacement from its bag.
    The sample depends only on ``(seed, epoch, index)``, so a resumed run draws the same
    patches as an uninterrupted one.

    Args:
        bags: Bags read with ``read_bag``.
        rows: Manifest rows, in the same order as ``bags``.
        patches_per_bag: K, or None to use every patch (evaluation).
        seed: Seed for patch sampling.
    """

    def __init__(
        self,
        bags: Sequence[Bag],
        rows: Sequence[ManifestRow],
        patches_per_bag: int | None = None,
        seed: int = 0,
    ) -> None:
        if len(bags) != len(rows):
            raise ValueError(f"{len(bags)} bags but {len(rows)} manifest rows")
        self.bags = list(bags)
        self.rows = list(rows)
        self.patches_per_bag = patches_per_bag
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose patch samples ``__getitem__`` returns."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, index: int) -> dict[str, Any]:
        bag, row = self.bags[index], self.rows[index]
        chosen = self._choose_patches(index, bag.patch_count)
        lung_ml = np.asarray(bag.lung_ml, dtype=np.float32)
        sampled_ml = float(lung_ml[chosen].sum())
        return {
            "hu": torch.from_numpy(np.asarray(bag.hu[chosen])),
            "mask": torch.from_numpy(np.asarray(bag.mask[chosen])),
            "lung_ml": torch.from_numpy(lung_ml[chosen]),
            "zone": torch.from_numpy(np.asarray(bag.zone[chosen])),
            "side": torch.from_numpy(np.asarray(bag.side[chosen])),
            "volume_scale": (
                float(lung_ml.sum()) / sampled_ml if sampled_ml > 0 else 1.0
            ),
            "metadata": torch.from_numpy(row.metadata.astype(np.float32)),
            "target": float(row.dlco),
            "scan_id": row.scan_id,
        }

    def _choose_patches(self, index: int, count: int) -> np.ndarray:
        if self.patches_per_bag is None or count <= self.patches_per_bag:
            return np.arange(count)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return np.sort(rng.choice(count, size=self.patches_per_bag, replace=False))


def collate_bags(items: Sequence[dict[str, Any]]) -> BagBatch:
    """Concatenate dataset items into one ``BagBatch``."""
    return BagBatch(
        hu=torch.cat([item["hu"] for item in items]),
        mask=torch.cat([item["mask"] for item in items]),
        lung_ml=torch.cat([item["lung_ml"] for item in items]),
        zone=torch.cat([item["zone"] for item in items]),
        side=torch.cat([item["side"] for item in items]),
        counts=[int(item["lung_ml"].shape[0]) for item in items],
        volume_scale=torch.tensor(
            [item["volume_scale"] for item in items], dtype=torch.float32
        ),
        metadata=torch.stack([item["metadata"] for item in items]),
        target=torch.tensor([item["target"] for item in items], dtype=torch.float32),
        scan_ids=[item["scan_id"] for item in items],
    )


def load_split_datasets(
    bags_dir: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    skip_missing_bags: bool = False,
) -> tuple[dict[str, tuple[list[Bag], list[ManifestRow]]], dict[str, str]]:
    """Read the manifest and every bag, and group them by split.

    Returns:
        Split name to (bags, rows), and scan id to split for every kept row.

    Raises:
        ValueError: If bags are missing (unless ``skip_missing_bags``), a bag has no
            lung patches, bags disagree on their preprocessing hash, or the training
            split is empty.
    """
    rows = read_manifest(manifest_path)
    has_bag = {
        row.scan_id: os.path.isfile(os.path.join(bags_dir, row.scan_id, "bag.json"))
        for row in rows
    }
    present = [row for row in rows if has_bag[row.scan_id]]
    missing = [row.scan_id for row in rows if not has_bag[row.scan_id]]
    if missing and not skip_missing_bags:
        raise ValueError(
            f"{len(missing)} manifest id(s) have no bag folder in {bags_dir}, e.g. "
            f"{missing[:5]}; run `dlco preprocess` for them or set skip_missing_bags"
        )
    if missing:
        logger.warning(
            "skipping %d manifest rows without a bag, e.g. %s",
            len(missing),
            missing[:5],
        )

    split_of = assign_splits(present, seed, val_fraction, test_fraction)
    groups: dict[str, tuple[list[Bag], list[ManifestRow]]] = {
        name: ([], []) for name in SPLITS
    }
    hashes: set[str] = set()
    empty = []
    for row in present:
        bag = read_bag(os.path.join(bags_dir, row.scan_id))
        hashes.add(bag.preprocessing_hash)
        if bag.patch_count == 0 or float(np.sum(bag.lung_ml)) <= 0:
            empty.append(row.scan_id)
        groups[split_of[row.scan_id]][0].append(bag)
        groups[split_of[row.scan_id]][1].append(row)
    if empty:
        raise ValueError(
            f"{len(empty)} bag(s) have no lung patches, e.g. {empty[:5]}; check their "
            "segmentation or remove them from the manifest"
        )
    if len(hashes) > 1:
        raise ValueError(
            f"bags in {bags_dir} were made with {len(hashes)} different preprocessing "
            f"hashes {sorted(hashes)}; re-run `dlco preprocess` with one parameter set"
        )
    if not groups["train"][0]:
        raise ValueError(f"the training split is empty ({len(present)} bags in total)")
    return groups, split_of
