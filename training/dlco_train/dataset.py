"""Manifest reading, metadata encoding, subject splits and the bag dataset."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
import math
import os
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .bags import Bag, read_bag

logger = logging.getLogger(__name__)

__all__ = [
    "METADATA_FEATURES",
    "SPLITS",
    "ManifestRow",
    "MetadataStats",
    "BagBatch",
    "BagDataset",
    "read_manifest",
    "encode_metadata",
    "assign_splits",
    "collate_bags",
    "load_split_datasets",
]

#: Raw metadata vector, in order: (name, unit). Missing values are NaN.
METADATA_FEATURES: tuple[tuple[str, str], ...] = (
    ("age", "years"),
    ("sex_male", "1 male, 0 female"),
    ("height_cm", "cm"),
    ("weight_kg", "kg"),
    ("bmi", "kg/m^2"),
    ("smoking_never", "1 if never smoked, else 0"),
    ("smoking_former", "1 if former smoker, else 0"),
    ("smoking_current", "1 if current smoker, else 0"),
    ("pack_years", "pack-years"),
    ("hb_g_dl", "g/dL"),
)
METADATA_INDEX = {name: index for index, (name, _) in enumerate(METADATA_FEATURES)}

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_SEX_CODES = {"m": 1.0, "male": 1.0, "1": 1.0, "f": 0.0, "female": 0.0, "0": 0.0}
_SMOKING = ("never", "former", "current")


@dataclasses.dataclass
class ManifestRow:
    """One scan of the manifest.

    Attributes:
        scan_id: The ``id`` column, also the bag folder name.
        subject_id: The ``subject_id`` column if present, else ``scan_id``; splits keep a
            subject's scans together.
        dlco: Measured DLCO, ml/min/mmHg.
        metadata: Raw metadata in ``METADATA_FEATURES`` order, float64 ``[M]``.
        split: ``"train"``, ``"val"``, ``"test"`` or ``""`` when the manifest has none.
        columns: Every column of the row as text.
    """

    scan_id: str
    subject_id: str
    dlco: float
    metadata: np.ndarray
    split: str
    columns: dict[str, str]


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestRow]:
    """Read a manifest CSV with columns id, dlco and optional metadata columns.

    Recognised columns are ``id``, ``subject_id``, ``dlco`` (ml/min/mmHg), ``age``
    (years), ``sex`` (M/F, male/female or 1/0), ``height_cm``, ``weight_kg``,
    ``smoking`` (never/former/current), ``pack_years``, ``hb_g_dl`` and ``split``
    (train/val/test). Empty cells mean missing; other columns are kept as text.

    Raises:
        ValueError: If ``id`` or ``dlco`` is missing, an id repeats, or a value cannot be
            parsed; the message names the row.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        for required in ("id", "dlco"):
            if required not in fields:
                raise ValueError(
                    f"manifest {path} has no {required!r} column; found {fields}"
                )
        rows = [_parse_row(path, line, raw) for line, raw in enumerate(reader, start=2)]

    seen: set[str] = set()
    for row in rows:
        if row.scan_id in seen:
            raise ValueError(
                f"manifest {path}: id {row.scan_id!r} appears more than once"
            )
        seen.add(row.scan_id)
    return rows


def _parse_row(path: Any, line: int, raw: dict[str, str]) -> ManifestRow:
    where = f"manifest {path} line {line}"
    columns = {
        key: (value or "").strip() for key, value in raw.items() if key is not None
    }
    scan_id = columns["id"]
    if not scan_id:
        raise ValueError(f"{where}: empty id")
    dlco = _parse_float(columns["dlco"], "dlco", where)
    if not math.isfinite(dlco) or dlco <= 0:
        raise ValueError(
            f"{where}: dlco must be a positive number, got {columns['dlco']!r}"
        )

    split = columns.get("split", "").lower()
    if split and split not in _SPLIT_ALIASES:
        raise ValueError(f"{where}: split {split!r} is not one of train, val, test")
    return ManifestRow(
        scan_id=scan_id,
        subject_id=columns.get("subject_id") or scan_id,
        dlco=dlco,
        metadata=encode_metadata(columns, where),
        split=_SPLIT_ALIASES.get(split, ""),
        columns=columns,
    )


def encode_metadata(columns: dict[str, str], where: str = "metadata") -> np.ndarray:
    """Turn manifest text columns into the raw metadata vector.

    Args:
        columns: Column name to text, as in a manifest row.
        where: Prefix for error messages.

    Returns:
        float64 ``[M]`` in ``METADATA_FEATURES`` order, NaN where a value is missing.
    """
    vector = np.full(len(METADATA_FEATURES), np.nan)
    for name in ("age", "height_cm", "weight_kg", "pack_years", "hb_g_dl"):
        vector[METADATA_INDEX[name]] = _parse_float(columns.get(name, ""), name, where)

    sex = columns.get("sex", "").lower()
    if sex:
        if sex not in _SEX_CODES:
            raise ValueError(
                f"{where}: sex {sex!r} is not one of M, F, male, female, 1, 0"
            )
        vector[METADATA_INDEX["sex_male"]] = _SEX_CODES[sex]

    smoking = columns.get("smoking", "").lower()
    if smoking:
        if smoking not in _SMOKING:
            raise ValueError(
                f"{where}: smoking {smoking!r} is not one of {list(_SMOKING)}"
            )
        for status in _SMOKING:
            vector[METADATA_INDEX[f"smoking_{status}"]] = float(smoking == status)

    height_m = vector[METADATA_INDEX["height_cm"]] / 100.0
    vector[METADATA_INDEX["bmi"]] = vector[METADATA_INDEX["weight_kg"]] / height_m**2
    return vector


def _parse_float(text: str, name: str, where: str) -> float:
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: {name} {text!r} is not a number") from None


def assign_splits(
    rows: Sequence[ManifestRow], seed: int, val_fraction: float, test_fraction: float
) -> dict[str, str]:
    """Return scan id to split, keeping every scan of a subject in one split.

    The manifest's ``split`` column wins when every row has one. Otherwise each subject
    is placed by a SHA-256 hash of ``seed`` and its subject id, so a subject's split does
    not depend on row order or on the other subjects.

    Raises:
        ValueError: If only some rows have a split, or one subject spans two splits.
    """
    given = [row.split for row in rows]
    if all(given):
        by_subject: dict[str, set[str]] = {}
        for row in rows:
            by_subject.setdefault(row.subject_id, set()).add(row.split)
        mixed = {subject: sorted(s) for subject, s in by_subject.items() if len(s) > 1}
        if mixed:
            example = next(iter(mixed.items()))
            raise ValueError(
                f"{len(mixed)} subject(s) span several splits, e.g. {example}; a subject's "
                "scans must share one split"
            )
        return {row.scan_id: row.split for row in rows}
    if any(given):
        raise ValueError(
            f"{sum(map(bool, given))} of {len(rows)} manifest rows have a split; fill in "
            "every row or leave the column empty for a seeded split"
        )

    splits = {}
    for row in rows:
        digest = hashlib.sha256(f"{seed}:{row.subject_id}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < test_fraction:
            splits[row.scan_id] = "test"
        elif position < test_fraction + val_fraction:
            splits[row.scan_id] = "val"
        else:
            splits[row.scan_id] = "train"
    return splits


@dataclasses.dataclass
class MetadataStats:
    """Mean and standard deviation of each raw metadata feature on the training split."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, vectors: Iterable[np.ndarray]) -> "MetadataStats":
        """Fit on raw vectors, ignoring NaN; constant or empty features get std 1."""
        matrix = np.asarray(list(vectors), dtype=np.float64)
        with np.errstate(all="ignore"):
            present = np.isfinite(matrix).any(axis=0)
            mean = np.where(
                present, np.nanmean(np.where(present, matrix, 0.0), axis=0), 0.0
            )
            std = np.where(
                present, np.nanstd(np.where(present, matrix, 0.0), axis=0), 1.0
            )
        std = np.where(std > 1e-6, std, 1.0)
        return cls(mean=mean, std=std)

    def to_dict(self) -> dict[str, list[float]]:
        """Return the statistics as JSON lists."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


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

    In training mode each item holds K patches sampled without replacement from its bag.
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
        ValueError: If bags are missing (unless ``skip_missing_bags``), bags disagree on
            their preprocessing hash, or the training split is empty.
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
    for row in present:
        bag = read_bag(os.path.join(bags_dir, row.scan_id))
        hashes.add(bag.preprocessing_hash)
        groups[split_of[row.scan_id]][0].append(bag)
        groups[split_of[row.scan_id]][1].append(row)
    if len(hashes) > 1:
        raise ValueError(
            f"bags in {bags_dir} were made with {len(hashes)} different preprocessing "
            f"hashes {sorted(hashes)}; re-run `dlco preprocess` with one parameter set"
        )
    if not groups["train"][0]:
        raise ValueError(f"the training split is empty ({len(present)} bags in total)")
    return groups, split_of
