"""Minimal reader for 3-D NRRD files (raw or gzip encoding, attached or detached data).

Only what real chest CT backgrounds need is supported: scalar 3-D volumes with
``space directions`` and ``space origin`` in an LPS or RAS space.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

__all__ = ["read_nrrd"]

_TYPES = {
    "signed char": "i1", "int8": "i1", "int8_t": "i1",
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1",
    "short": "i2", "short int": "i2", "signed short": "i2",
    "int16": "i2", "int16_t": "i2",
    "ushort": "u2", "unsigned short": "u2", "uint16": "u2", "uint16_t": "u2",
    "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4",
    "float": "f4", "double": "f8",
}  # fmt: skip

_SPACES = {
    "left-posterior-superior": np.array([1.0, 1.0, 1.0]),
    "lps": np.array([1.0, 1.0, 1.0]),
    "right-anterior-superior": np.array([-1.0, -1.0, 1.0]),
    "ras": np.array([-1.0, -1.0, 1.0]),
}


def _parse_vector(text: str) -> np.ndarray:
    return np.array([float(value) for value in text.strip("() ").split(",")])


def read_nrrd(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a 3-D NRRD volume and its voxel-to-LPS affine.

    Args:
        path: ``.nrrd`` (attached data) or ``.nhdr`` (detached data) file.

    Returns:
        ``(data, affine_lps)``: the array indexed ``[i, j, k]`` with the file's fastest
        axis first, and the 4x4 affine from index to LPS mm.

    Raises:
        ValueError: If the file is not a 3-D scalar NRRD this reader supports.
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(b"NRRD"):
        raise ValueError(f"{path} is not an NRRD file (missing the NRRD magic).")
    header_end = raw.find(b"\n\n")
    if header_end < 0:
        raise ValueError(f"{path} has no blank line after the NRRD header.")
    fields: dict[str, str] = {}
    for line in raw[:header_end].decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        key, value = re.split(r":=?\s*", line, maxsplit=1)
        fields[key.strip().lower()] = value.strip()

    dimension = int(fields.get("dimension", "0"))
    if dimension != 3:
        raise ValueError(
            f"{path}: only 3-D NRRD is supported, dimension is {dimension}."
        )
    type_name = fields.get("type", "").lower()
    if type_name not in _TYPES:
        raise ValueError(f"{path}: unsupported NRRD type {type_name!r}.")
    endian = "<" if fields.get("endian", "little") == "little" else ">"
    dtype = np.dtype(endian + _TYPES[type_name])
    sizes = [int(value) for value in fields["sizes"].split()]

    if "data file" in fields or "datafile" in fields:
        data_name = fields.get("data file", fields.get("datafile"))
        payload = (path.parent / data_name).read_bytes()
    else:
        payload = raw[header_end + 2 :]
    encoding = fields.get("encoding", "raw").lower()
    if encoding in ("gzip", "gz"):
        payload = gzip.decompress(payload)
    elif encoding != "raw":
        raise ValueError(
            f"{path}: unsupported NRRD encoding {encoding!r}; use raw or gzip."
        )
    count = int(np.prod(sizes))
    data = np.frombuffer(payload, dtype=dtype, count=count).reshape(sizes, order="F")

    space = fields.get("space", "left-posterior-superior").lower()
    if space not in _SPACES:
        raise ValueError(f"{path}: unsupported NRRD space {space!r}; use LPS or RAS.")
    directions = [
        _parse_vector(part)
        for part in re.findall(r"\([^)]*\)", fields["space directions"])
    ]
    origin = _parse_vector(fields.get("space origin", "(0,0,0)"))
    to_lps = _SPACES[space]
    affine = np.eye(4)
    for axis, direction in enumerate(directions):
        affine[:3, axis] = direction * to_lps
    affine[:3, 3] = origin * to_lps
    return np.ascontiguousarray(data), affine
