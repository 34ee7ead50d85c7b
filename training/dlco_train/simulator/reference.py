"""GLI 2017 predicted DLCO (LMS median) read from the project's reference table.

The table is ``libs/reference/data/gli-2017-tlco.json``. The script
``libs/reference/scripts/generate-gli-tlco.py`` writes it from the tables of Stanojevic
et al., Eur Respir J 2017;50:1700010, with the erratum Eur Respir J 2020;56:1750010.
``libs/reference/README.md`` describes its layout: ``validity`` ranges,
``splineAgesYears``, and per sex ``coefficients`` (``a0, a1, a2`` for the median) and
``splines`` (``mSpline``). DLCO is in ml/min/mmHg, age in years and height in cm.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

__all__ = [
    "GLI_TABLE_ENV",
    "GliDlcoTable",
    "cotes_hb_factor",
    "default_gli_table_path",
    "load_gli_table",
]

GLI_TABLE_ENV = "DLCO_GLI_TABLE"
"""Environment variable that overrides the path of the GLI 2017 DLCO JSON table."""

STANDARD_HB_G_DL = {"M": 14.6, "F": 13.4}
"""Haemoglobin (g/dL) at which the Cotes factor is 1, by sex."""

_COTES_CONSTANT_G_DL = {"M": 10.22, "F": 9.38}


@dataclass(frozen=True)
class _SexTable:
    a0: float
    a1: float
    a2: float
    m_spline: tuple[float, ...]


class GliDlcoTable:
    """GLI 2017 DLCO reference equations for Caucasian adults and children aged 5 to 85.

    Only the LMS median M is implemented because the simulator needs the predicted value
    alone: ``M = exp(a0 + a1 ln(height_cm) + a2 ln(age_years) + Mspline(age))``. The
    spline is interpolated linearly between the table's age rows.

    Args:
        table: Parsed JSON with keys ``validity`` (``ageYears`` and ``heightCm``, each
            with ``min`` and ``max``), ``splineAgesYears`` and ``sexes`` (``M`` and
            ``F``, each with ``coefficients`` and ``splines``).

    Raises:
        ValueError: If a key is missing or the spline rows do not match the ages.
    """

    def __init__(self, table: Mapping) -> None:
        try:
            source = table.get("source", {})
            self.source = (
                f"{source.get('package', 'unknown')} {source.get('version', '')}"
                if isinstance(source, Mapping)
                else str(source)
            )
            validity = table["validity"]
            self.age_range_years = (
                float(validity["ageYears"]["min"]),
                float(validity["ageYears"]["max"]),
            )
            self.height_range_cm = (
                float(validity["heightCm"]["min"]),
                float(validity["heightCm"]["max"]),
            )
            self._ages = tuple(float(age) for age in table["splineAgesYears"])
            self._sexes = {
                sex: self._parse_sex(table["sexes"][sex], sex) for sex in ("M", "F")
            }
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"GLI table is missing the key {error}; expected the layout described "
                "in libs/reference/README.md."
            ) from error
        if len(self._ages) < 2:
            raise ValueError(
                f"GLI table has {len(self._ages)} spline ages; at least 2 are required."
            )

    def _parse_sex(self, entry: Mapping, sex: str) -> _SexTable:
        coefficients = entry["coefficients"]
        m_spline = tuple(float(value) for value in entry["splines"]["mSpline"])
        if len(m_spline) != len(self._ages):
            raise ValueError(
                f"GLI table sex {sex}: mSpline has {len(m_spline)} values but "
                f"splineAgesYears has {len(self._ages)}."
            )
        return _SexTable(
            a0=float(coefficients["a0"]),
            a1=float(coefficients["a1"]),
            a2=float(coefficients["a2"]),
            m_spline=m_spline,
        )

    def predicted_dlco(self, age_years: float, sex: str, height_cm: float) -> float:
        """Compute the GLI 2017 predicted DLCO at the standard haemoglobin.

        Args:
            age_years: Age in years, inside ``age_range_years``.
            sex: ``"M"`` or ``"F"``.
            height_cm: Standing height in cm, inside ``height_range_cm``.

        Returns:
            Predicted (median) DLCO in ml/min/mmHg.

        Raises:
            ValueError: For an unknown sex, or an age or height outside the valid range.
        """
        if sex not in self._sexes:
            raise ValueError(f"sex must be 'M' or 'F', received {sex!r}.")
        _require_in_range("age_years", age_years, self.age_range_years, "years")
        _require_in_range("height_cm", height_cm, self.height_range_cm, "cm")
        entry = self._sexes[sex]
        m_spline = _interpolate(self._ages, entry.m_spline, age_years)
        log_median = (
            entry.a0
            + entry.a1 * math.log(height_cm)
            + entry.a2 * math.log(age_years)
            + m_spline
        )
        return math.exp(log_median)


def _require_in_range(
    name: str, value: float, valid: tuple[float, float], unit: str
) -> None:
    if not math.isfinite(value) or not valid[0] <= value <= valid[1]:
        raise ValueError(
            f"{name} {value} {unit} is outside the GLI 2017 DLCO range "
            f"{valid[0]}-{valid[1]} {unit}."
        )


def _interpolate(ages: Sequence[float], values: Sequence[float], age: float) -> float:
    # The rows are evenly spaced (0.25 year in the published table).
    step = ages[1] - ages[0]
    position = (age - ages[0]) / step
    lower = min(int(math.floor(position)), len(ages) - 2)
    weight = position - lower
    return (1.0 - weight) * values[lower] + weight * values[lower + 1]


def default_gli_table_path() -> Path:
    """Return the GLI table path: ``$DLCO_GLI_TABLE`` or the repository's copy.

    The repository copy is ``libs/reference/data/gli-2017-tlco.json``, found relative to
    this file (``training/dlco_train/simulator`` is three levels below the root).
    """
    override = os.environ.get(GLI_TABLE_ENV)
    if override:
        return Path(override)
    repository_root = Path(__file__).resolve().parents[3]
    return repository_root / "libs" / "reference" / "data" / "gli-2017-tlco.json"


def load_gli_table(path: str | os.PathLike | None = None) -> GliDlcoTable:
    """Load the GLI 2017 DLCO table from JSON.

    Args:
        path: JSON file; ``None`` uses :func:`default_gli_table_path`.

    Returns:
        The parsed table.

    Raises:
        FileNotFoundError: If the file does not exist; the message names the generator.
        ValueError: If the JSON does not have the expected layout.
    """
    table_path = Path(path) if path is not None else default_gli_table_path()
    if not table_path.is_file():
        raise FileNotFoundError(
            f"GLI 2017 DLCO table not found at {table_path}. Generate it with "
            "libs/reference/scripts/generate-gli-tlco.py, or set "
            f"{GLI_TABLE_ENV} to its path."
        )
    with table_path.open(encoding="utf-8") as handle:
        return GliDlcoTable(json.load(handle))


def cotes_hb_factor(hb_g_dl: float, sex: str) -> float:
    """Compute the Cotes factor that scales DLCO to a haemoglobin concentration.

    The factor is ``1.7 Hb / (10.22 + Hb)`` for males and ``1.7 Hb / (9.38 + Hb)`` for
    females (ATS/ERS 2017 single-breath DLCO standard, adult form), so it is 1 at
    14.6 g/dL (males) and 13.4 g/dL (females).

    Args:
        hb_g_dl: Haemoglobin in g/dL.
        sex: ``"M"`` or ``"F"``.

    Returns:
        Unitless multiplier for DLCO.

    Raises:
        ValueError: For an unknown sex or a haemoglobin that is not positive.
    """
    if sex not in _COTES_CONSTANT_G_DL:
        raise ValueError(f"sex must be 'M' or 'F', received {sex!r}.")
    if not hb_g_dl > 0:
        raise ValueError(f"hb_g_dl must be positive, received {hb_g_dl} g/dL.")
    return 1.7 * hb_g_dl / (_COTES_CONSTANT_G_DL[sex] + hb_g_dl)
