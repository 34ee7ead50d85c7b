#!/usr/bin/env bash
# Writes demo/scan.nii.gz and demo/subject.json: one simulated subject with upper-zone
# centrilobular emphysema (severity 0.705) on the beta-thick-5.0 scanner profile. The
# simulator seed differs from the demo model's cohort seed, so this subject is not in the
# training cohort. The output is the same on every run.
#
# Usage: demo/make-demo-scan.sh   (needs training/.venv; see training/README.md)
set -euo pipefail

DEMO_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO_ROOT="$(cd "$DEMO_DIR/.." && pwd)"
PYTHON="$REPO_ROOT/training/.venv/bin/python"
SEED=2026
WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

(cd "$REPO_ROOT/training" && "$PYTHON" -m dlco_train.simulator --out "$WORK_DIR" \
  --n 1 --seed "$SEED" --phenotype-mix centrilobular=1 --profile-mix beta-thick-5.0=1 \
  --test-profiles "" --workers 1 --log-level WARNING)

cp "$WORK_DIR/ct/sub00000_scan0.nii.gz" "$DEMO_DIR/scan.nii.gz"

"$PYTHON" - "$WORK_DIR" "$DEMO_DIR/subject.json" "$SEED" <<'EOF'
import csv
import json
import os
import sys

import nibabel
import numpy as np

work_dir, out_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(work_dir, "manifest.csv"), newline="", encoding="utf-8") as f:
    row = next(csv.DictReader(f))


def load_canonical(path):
    return np.asarray(nibabel.as_closest_canonical(nibabel.load(path)).dataobj)


# Deficit per third of the lung height, from the truth volumes in RAS order (z = axis 2).
truth_dir = os.path.join(work_dir, row["truth_path"])
labels = load_canonical(os.path.join(truth_dir, "labels.nii.gz"))
deficit = load_canonical(os.path.join(truth_dir, "deficit.nii.gz"))
lung_slices = np.nonzero((labels > 0).any(axis=(0, 1)))[0]
edges = np.linspace(lung_slices.min(), lung_slices.max() + 1, 4).round().astype(int)
deficit_by_third = {
    name: round(float(deficit[:, :, edges[i] : edges[i + 1]].sum()), 3)
    for i, name in enumerate(("lower", "middle", "upper"))
}

subject = {
    "description": (
        "Simulated subject for the demo: upper-zone centrilobular emphysema. "
        "Not a patient. Research use, not diagnosis."
    ),
    "scan": "scan.nii.gz",
    "subject": {
        "ageYears": float(row["age"]),
        "sex": row["sex"],
        "heightCm": float(row["height_cm"]),
        "weightKg": float(row["weight_kg"]),
        "smoking": row["smoking"],
        "packYears": float(row["pack_years"]),
        "hbGdl": float(row["hb_g_dl"]),
        "cohbPercent": float(row["cohb_percent"]),
    },
    "truth": {
        "unit": "ml/min/mmHg",
        "dlcoMeasured": float(row["dlco"]),
        "dlcoTrueNoiseless": float(row["dlco_true_noiseless"]),
        "dlcoPredictedGli2017": float(row["dlco_predicted"]),
        "dlcoStructural": float(row["dlco_structural"]),
        "deficitByLungThird": deficit_by_third,
        "phenotype": row["phenotype"],
        "severity": float(row["severity"]),
    },
    "simulation": {
        "command": (
            f"python -m dlco_train.simulator --n 1 --seed {seed} "
            "--phenotype-mix centrilobular=1 --profile-mix beta-thick-5.0=1 --test-profiles ''"
        ),
        "subjectId": row["subject_id"],
        "scannerProfile": row["scanner_profile"],
        "kernel": row["kernel"],
        "sliceThicknessMm": float(row["slice_thickness_mm"]),
    },
}
with open(out_path, "w", encoding="utf-8") as f:
    json.dump(subject, f, indent=2)
    f.write("\n")
EOF
echo "wrote $DEMO_DIR/scan.nii.gz ($(du -h "$DEMO_DIR/scan.nii.gz" | cut -f1)) and $DEMO_DIR/subject.json"
