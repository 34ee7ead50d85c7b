"""JSON output that JavaScript's ``JSON.parse`` accepts."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

__all__ = ["json_safe", "write_json"]


def json_safe(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as None and NumPy scalars as Python ones.

    ``json.dump`` writes NaN as a bare ``NaN`` token, which is not JSON and which
    ``JSON.parse`` rejects, so files read by TypeScript carry ``null`` instead.
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike[str], values: Any) -> None:
    """Write ``values`` as indented JSON, replacing the file only once it is complete."""
    path = os.fspath(path)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(json_safe(values), f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(temporary, path)
