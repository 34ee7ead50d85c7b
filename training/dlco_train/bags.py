"""Reader for the patch bags that ``dlco preprocess`` writes.

A bag is one folder per scan with ``bag.json`` and a few ``.npy`` arrays. The layout is
specified in ``docs/patch-bag-format.md``. This module reads it with ``json`` and
``numpy`` alone, so training gets the same input as serving.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from decimal import Decimal
from typing import Any, Mapping

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "NO_DATA_HU",
    "SUPPORTED_FORMAT_VERSIONS",
    "BAG_ARRAYS",
    "Bag",
    "BagFormatError",
    "read_bag",
    "preprocess_params_hash",
]

#: ``hu.npy`` value of voxels without data: outside the working grid or the scanner's
#: field of view. It is a marker, never a density.
NO_DATA_HU = -32768

#: Bag format versions this reader understands.
SUPPORTED_FORMAT_VERSIONS = (1,)

#: File name, dtype and trailing shape (``"S"`` is the patch size) of each array.
BAG_ARRAYS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "hu": ("<i2", ("S", "S", "S")),
    "mask": ("|u1", ("S", "S", "S")),
    "centers_mm": ("<f4", (3,)),
    "corner_ijk": ("<i4", (3,)),
    "lung_ml": ("<f4", ()),
    "zone": ("|u1", ()),
    "side": ("|u1", ()),
    "rind_fraction": ("<f4", ()),
}

_REQUIRED_JSON_FIELDS = ("formatVersion", "preprocessing", "preprocessingHash")


class BagFormatError(ValueError):
    """A bag folder that does not follow the patch bag format."""


@dataclasses.dataclass
class Bag:
    """One scan's patches and metadata as read from a bag folder.

    Attributes:
        path: The bag folder.
        meta: The parsed ``bag.json``.
        hu: HU values, int16 ``[N, S, S, S]`` indexed ``[n, k, j, i]``.
        mask: Lung labels, uint8 ``[N, S, S, S]`` (0 outside, 1 right, 2 left lung).
        centers_mm: Patch centres in patient coordinates (LPS), float32 ``[N, 3]``, mm.
        corner_ijk: Grid index of each patch's first voxel, int32 ``[N, 3]``.
        lung_ml: Lung volume inside each patch, float32 ``[N]``, mL.
        zone: Zone code per patch, uint8 ``[N]``; names are in ``meta["zones"]``.
        side: 1 right or 2 left lung per patch, uint8 ``[N]``.
        rind_fraction: Share of each patch's lung voxels in the peripheral rind,
            float32 ``[N]``.
    """

    path: str
    meta: dict[str, Any]
    hu: np.ndarray
    mask: np.ndarray
    centers_mm: np.ndarray
    corner_ijk: np.ndarray
    lung_ml: np.ndarray
    zone: np.ndarray
    side: np.ndarray
    rind_fraction: np.ndarray

    @property
    def patch_count(self) -> int:
        """Number of patches N."""
        return int(self.lung_ml.shape[0])

    @property
    def patch_size(self) -> int:
        """Edge length S of a patch, in working-grid voxels."""
        return int(self.hu.shape[1])

    @property
    def format_version(self) -> int:
        """The bag's ``formatVersion``."""
        return int(self.meta["formatVersion"])

    @property
    def preprocessing(self) -> dict[str, Any]:
        """Every preprocessing parameter the bag was made with."""
        return dict(self.meta["preprocessing"])

    @property
    def preprocessing_hash(self) -> str:
        """The bag's ``preprocessingHash`` (hex SHA-256)."""
        return str(self.meta["preprocessingHash"])


def read_bag(
    path: str | os.PathLike[str],
    *,
    mmap: bool = True,
    expected_hash: str | None = None,
) -> Bag:
    """Read one bag folder and check it against the format.

    Args:
        path: Folder containing ``bag.json`` and the ``.npy`` arrays.
        mmap: Memory-map ``hu.npy`` and ``mask.npy`` instead of reading them, so a
            dataset of many bags stays small in memory.
        expected_hash: When given, the bag's ``preprocessingHash`` must equal it; a
            model passes the hash it was trained with.

    Returns:
        The bag.

    Raises:
        BagFormatError: If ``formatVersion`` is unknown, the hash differs from
            ``expected_hash``, a file is missing, or an array has the wrong dtype or
            shape.
    """
    folder = os.fspath(path)
    meta = _read_bag_json(folder)

    version = meta["formatVersion"]
    if not isinstance(version, int) or version not in SUPPORTED_FORMAT_VERSIONS:
        raise BagFormatError(
            f"{folder}: bag formatVersion {version!r} is not supported; this reader "
            f"knows {list(SUPPORTED_FORMAT_VERSIONS)}. Re-run `dlco preprocess` with a "
            "matching version or update dlco_train."
        )
    if expected_hash is not None and meta["preprocessingHash"] != expected_hash:
        raise BagFormatError(
            f"{folder}: preprocessingHash {meta['preprocessingHash']} differs from the "
            f"model's {expected_hash}; re-run `dlco preprocess` with the model's "
            "preprocessing parameters."
        )

    arrays = {name: _load_array(folder, name, mmap) for name in BAG_ARRAYS}
    _check_shapes(folder, meta, arrays)
    return Bag(path=folder, meta=meta, **arrays)


def _read_bag_json(folder: str) -> dict[str, Any]:
    json_path = os.path.join(folder, "bag.json")
    try:
        with open(json_path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise BagFormatError(
            f"{json_path} not found; is {folder} a bag folder?"
        ) from None
    except json.JSONDecodeError as error:
        raise BagFormatError(f"{json_path} is not valid JSON: {error}") from error

    if not isinstance(meta, dict):
        raise BagFormatError(f"{json_path} must contain a JSON object")
    missing = [field for field in _REQUIRED_JSON_FIELDS if field not in meta]
    if missing:
        raise BagFormatError(f"{json_path} is missing field(s) {missing}")
    return meta


def _load_array(folder: str, name: str, mmap: bool) -> np.ndarray:
    file_path = os.path.join(folder, f"{name}.npy")
    big = name in ("hu", "mask")
    try:
        # allow_pickle=False because a bag contains plain numeric arrays only.
        array = np.load(
            file_path, mmap_mode="r" if (mmap and big) else None, allow_pickle=False
        )
    except FileNotFoundError:
        raise BagFormatError(f"{file_path} not found") from None
    except ValueError as error:
        raise BagFormatError(
            f"{file_path} is not a readable .npy file: {error}"
        ) from error

    expected_dtype, _ = BAG_ARRAYS[name]
    if array.dtype != np.dtype(expected_dtype):
        raise BagFormatError(
            f"{file_path} has dtype {array.dtype.str}, expected {expected_dtype}"
        )
    return array


def _check_shapes(
    folder: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> None:
    count = arrays["lung_ml"].shape[0] if arrays["lung_ml"].ndim == 1 else -1
    size = int(meta["preprocessing"].get("patchSizeVoxels", arrays["hu"].shape[-1]))
    for name, (_, trailing) in BAG_ARRAYS.items():
        expected = (count,) + tuple(size if axis == "S" else axis for axis in trailing)
        if arrays[name].shape != expected:
            raise BagFormatError(
                f"{folder}/{name}.npy has shape {arrays[name].shape}, expected {expected} "
                f"(N = {count} patches of {size} voxels)"
            )
    stated = meta.get("patchCount")
    if stated is not None and stated != count:
        raise BagFormatError(
            f"{folder}: bag.json patchCount {stated} but arrays hold {count}"
        )


def preprocess_params_hash(params: Mapping[str, Any], format_version: int = 1) -> str:
    """Hash preprocessing parameters the way ``preprocessParamsHash`` in TypeScript does.

    The hash is SHA-256 over ``JSON.stringify`` of ``{bagFormatVersion, ...params}``
    with the parameter keys sorted, so numbers are formatted as JavaScript formats them.

    Args:
        params: Parameter name to number.
        format_version: The bag format version included in the hash.

    Returns:
        The hex digest.
    """
    # Keys are camelCase ASCII, where casefolded order matches JavaScript's localeCompare.
    keys = sorted(params, key=lambda key: (key.casefold(), key))
    parts = [f'"bagFormatVersion":{_js_number(format_version)}']
    parts += [f"{json.dumps(key)}:{_js_value(params[key])}" for key in keys]
    canonical = "{" + ",".join(parts) + "}"
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _js_value(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _js_number(value)
    raise TypeError(
        f"preprocessing parameter value {value!r} is not a number, string or bool"
    )


def _js_number(value: float) -> str:
    """Format a finite number as JavaScript's Number.prototype.toString does."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"cannot hash non-finite preprocessing parameter {value}")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest round-tripping digits, the same digits JavaScript picks.
    digits_tuple = Decimal(repr(abs(float(value)))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    k = len(digits)
    n = digits_tuple.exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        exponent = n - 1
        text = f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"
    return sign + text
