"""Manifest CSV reading, metadata encoding and subject splits."""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import math
import os
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "METADATA_FEATURES",
    "METADATA_INDEX",
    "SPLITS",
    "ManifestRow",
    "MetadataStats",
    "read_manifest",
    "encode_metadata",
    "gli_predicted_dlco",
    "assign_splits",
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
    ("cohb_percent", "% of haemoglobin"),
    ("gli_dlco_predicted", "ml/min/mmHg, GLI 2017 median from age, sex and height"),
)
METADATA_INDEX = {name: index for index, (name, _) in enumerate(METADATA_FEATURES)}

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_SEX_CODES = {"m": 1.0, "male": 1.0, "1": 1.0, "f": 0.0, "female": 0.0, "0": 0.0}
_SMOKING = ("never", "former", "current")
# Wide plausibility ranges that catch wrong units (m for cm, g/L for g/dL), not outliers.
_NUMERIC_RANGES = (
    ("age", 0.0, 120.0),
    ("height_cm", 50.0, 250.0),
    ("weight_kg", 10.0, 400.0),
    ("pack_years", 0.0, 300.0),
    ("hb_g_dl", 2.0, 25.0),
    ("cohb_percent", 0.0, 50.0),
)


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
    ``smoking`` (never/former/current), ``pack_years``, ``hb_g_dl``, ``cohb_percent``
    and ``split`` (train/val/test). Empty cells mean missing, and other columns are kept as text.
    Numeric values outside wide plausible ranges (for example Hb 2 to 25 g/dL) are
    rejected because they usually mean a wrong unit.

    Raises:
        ValueError: If ``id`` or ``dlco`` is missing, an id repeats, or a value is
            invalid. The message names the line.
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
    for name, low, high in _NUMERIC_RANGES:
        value = _parse_float(columns.get(name, ""), name, where)
        if not math.isnan(value) and not low <= value <= high:
            raise ValueError(
                f"{where}: {name} {value} is outside the plausible range [{low}, {high}]; "
                "check the unit"
            )
        vector[METADATA_INDEX[name]] = value

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
    vector[METADATA_INDEX["gli_dlco_predicted"]] = gli_predicted_dlco(
        vector[METADATA_INDEX["age"]],
        vector[METADATA_INDEX["sex_male"]],
        vector[METADATA_INDEX["height_cm"]],
    )
    return vector


def gli_predicted_dlco(age: float, sex_male: float, height_cm: float) -> float:
    """Return the GLI 2017 predicted DLCO, or NaN when an input is missing or out of range.

    Serving computes the same value with ``libs/reference`` from the subject's age, sex
    and height, so a model can use it as an input.
    """
    if not all(math.isfinite(value) for value in (age, sex_male, height_cm)):
        return math.nan
    table = _gli_table()
    low_age, high_age = table.age_range_years
    low_height, high_height = table.height_range_cm
    if not (low_age <= age <= high_age and low_height <= height_cm <= high_height):
        return math.nan
    return table.predicted_dlco(age, "M" if sex_male >= 0.5 else "F", height_cm)


@functools.lru_cache(maxsize=1)
def _gli_table():
    from .simulator.reference import load_gli_table

    return load_gli_table()


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
    manifest_splits = [row.split for row in rows]
    if all(manifest_splits):
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
    if any(manifest_splits):
        raise ValueError(
            f"{sum(map(bool, manifest_splits))} of {len(rows)} manifest rows have a split; "
            "fill in "
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
