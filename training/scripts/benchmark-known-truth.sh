#!/usr/bin/env bash
# Known-truth benchmark of a trained model against the linear baseline on a held-out
# simulated cohort, with Grad-CAM from the PyTorch checkpoint and the metadata ablation.
# Stages: setup, train (train-demo.sh into the training work folder, for the checkpoint
# and the training bags), simulate (the benchmark cohort), batch (`dlco batch` in two
# shards), bags (`dlco preprocess` of the benchmark scans), patch-order (bags against
# result.json), gradcam, attention (an attention-pooling model trained on the same bags,
# for attention weights), ablation (variants on the training bags), ablation-benchmark
# (the variants on the benchmark bags) and eval (`dlco eval`). Each stage prints its wall
# time and the load average.
#
# Usage: training/scripts/benchmark-known-truth.sh [--work DIR] [--train-work DIR]
#                                                   [--model DIR] [--subjects N] [--seed N]
#                                                   [--jobs N] [--skip-ablation]
#                                                   [--ablation-epochs N]
#
# Defaults: --work tmp/benchmark, --train-work tmp/demo-train, --model models/demo, 200
# subjects, seed 101. Grad-CAM needs the PyTorch checkpoint TRAIN_WORK/run, and the train
# stage warns when --model is not its export (byte for byte or numerically).
# A stage whose output exists is skipped, so an interrupted run continues where it
# stopped. Delete a stage's output (named in its log line) to run it again.
set -euo pipefail

TRAINING_DIR="$(cd "$(dirname "$0")/.." && pwd)"
REPO_ROOT="$(cd "$TRAINING_DIR/.." && pwd)"

WORK_DIR="$REPO_ROOT/tmp/benchmark"
TRAIN_WORK="$REPO_ROOT/tmp/demo-train"
SUBJECTS=200
SEED=101
JOBS=2
ABLATION=yes
# Epochs per ablation variant; empty keeps the config's 30.
ABLATION_EPOCHS=()
CONFIG="$TRAINING_DIR/configs/demo.json"
EXPLAIN="contributions,attention,occlusion,shapley,deletion"
MODEL_DIR="$REPO_ROOT/models/demo"

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --work) WORK_DIR="$2"; shift 2 ;;
    --train-work) TRAIN_WORK="$2"; shift 2 ;;
    --model) MODEL_DIR="$2"; shift 2 ;;
    --subjects) SUBJECTS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --skip-ablation) ABLATION=no; shift ;;
    --ablation-epochs) ABLATION_EPOCHS=(--epochs "$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "benchmark-known-truth: invalid argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
if [ "$SEED" = 7 ]; then
  echo "benchmark-known-truth: seed 7 is the demo model's training cohort; choose another" >&2
  exit 2
fi

WORK_DIR="$(mkdir -p "$WORK_DIR" && cd "$WORK_DIR" && pwd)"
TRAIN_WORK="$(mkdir -p "$TRAIN_WORK" && cd "$TRAIN_WORK" && pwd)"
MODEL_DIR="$(cd "$MODEL_DIR" && pwd)"
COHORT_DIR="$WORK_DIR/cohort"
RUN_DIR="$WORK_DIR/batch"
BAGS_DIR="$WORK_DIR/bags"
LOG_DIR="$WORK_DIR/logs"
TIMINGS="$WORK_DIR/timings.tsv"
PYTHON="$TRAINING_DIR/.venv/bin/python"
CHECKPOINT="$TRAIN_WORK/run/checkpoint-best.pt"
REPRODUCED_DIR="$TRAIN_WORK/model"
mkdir -p "$LOG_DIR"

# shellcheck source=stages.sh
source "$TRAINING_DIR/scripts/stages.sh"

# Runs "$@" once per shard in parallel, with SHARD (1-based) and SHARDS in the environment
# and the output in LOG_DIR/<name>-<shard>.log, and fails when any shard fails.
run_shards() {
  local name="$1"
  shift
  local pids=() failed=0 shard
  for ((shard = 1; shard <= JOBS; shard++)); do
    SHARD=$shard SHARDS=$JOBS "$@" >"$LOG_DIR/$name-$shard.log" 2>&1 &
    pids+=($!)
  done
  for ((shard = 1; shard <= JOBS; shard++)); do
    if ! wait "${pids[$((shard - 1))]}"; then
      failed=1
    fi
    tail -n 1 "$LOG_DIR/$name-$shard.log"
  done
  if [ "$failed" -ne 0 ]; then
    echo "benchmark-known-truth: $name failed; see $LOG_DIR/$name-*.log" >&2
    exit 1
  fi
}

TOTAL_START=$(date +%s)
printf 'stage\tseconds\tskipped\tload_average_at_end\n' >"$TIMINGS"
echo "benchmark-known-truth: $SUBJECTS subjects, seed $SEED, work folder $WORK_DIR"
echo "benchmark-known-truth: training work folder $TRAIN_WORK, $(nproc) CPUs"

start_stage setup
(cd "$TRAINING_DIR" && bash scripts/setup-venv.sh)
end_stage

start_stage train
# train-demo.sh skips its own finished stages; its model folder goes into the training
# work folder, never into models/demo.
if [ -f "$CHECKPOINT" ] && [ -f "$REPRODUCED_DIR/model-card.json" ]; then
  skip_stage "$CHECKPOINT"
else
  nice -n 10 "$TRAINING_DIR/scripts/train-demo.sh" --work "$TRAIN_WORK" \
    --out "$REPRODUCED_DIR" --jobs "$JOBS" >"$LOG_DIR/train-demo.log" 2>&1
  tail -n 12 "$LOG_DIR/train-demo.log"
fi
# Grad-CAM comes from the checkpoint and batch runs MODEL_DIR, which should be one model.
"$PYTHON" - "$REPRODUCED_DIR" "$MODEL_DIR" "$WORK_DIR/model-check.json" <<'EOF'
import hashlib
import json
import sys

import numpy as np
import onnxruntime as ort

reproduced, model, out = sys.argv[1:]
report = {"reproduced": reproduced, "model": model, "files": {}}
rng = np.random.default_rng(0)
for name in ("encoder.onnx", "aggregator.onnx"):
    digests = []
    for folder in (reproduced, model):
        with open(f"{folder}/{name}", "rb") as f:
            digests.append(hashlib.sha256(f.read()).hexdigest())
    entry = {"sha256": digests, "identicalBytes": digests[0] == digests[1]}
    if not entry["identicalBytes"]:
        sessions = [
            ort.InferenceSession(f"{folder}/{name}", providers=["CPUExecutionProvider"])
            for folder in (reproduced, model)
        ]
        inputs = {}
        for item in sessions[0].get_inputs():
            shape = [d if isinstance(d, int) else 6 for d in item.shape]
            if item.name == "hu":
                inputs[item.name] = rng.integers(-1000, 200, size=shape).astype(np.int16)
            elif item.name == "mask":
                inputs[item.name] = rng.integers(0, 3, size=shape).astype(np.uint8)
            elif item.name in ("zone", "side"):
                dtype = np.int64 if "int64" in item.type else np.uint8
                inputs[item.name] = rng.integers(1, 3, size=shape).astype(dtype)
            elif item.name == "metadata":
                # Age, sex, height, weight, BMI, smoking, pack-years, Hb, COHb and the
                # GLI value of that subject; older models read only the first 11.
                values = [60, 1, 175, 80, 26.1, 0, 1, 0, 20, 14.5, 1.0, 27.3]
                inputs[item.name] = np.array(
                    values[: int(np.prod(shape))], dtype=np.float32
                ).reshape(shape)
            else:
                inputs[item.name] = rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
        outputs = [session.run(None, inputs) for session in sessions]
        gap = max(float(np.abs(a - b).max()) for a, b in zip(*outputs))
        entry["maxOutputGap"] = gap
        entry["numericallyEqual"] = gap <= 1e-5
    report["files"][name] = entry
with open(out, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
print(json.dumps(report["files"]))
if not all(e["identicalBytes"] or e["numericallyEqual"] for e in report["files"].values()):
    print(
        f"WARNING: {model} differs from the export of the checkpoint, so Grad-CAM comes "
        f"from other weights than the batch results; pass --model {reproduced} to use one "
        "model for every method"
    )
EOF
end_stage

start_stage simulate
# Every benchmark subject is in the test split, and 30 % of them are scanned on a profile
# the demo model never saw (it trained on beta-thick-5.0 only). Thin slices cost the most
# to simulate and preprocess, so delta-thin-0.625 gets the smallest weight.
if [ -f "$COHORT_DIR/manifest.csv" ]; then
  skip_stage "$COHORT_DIR/manifest.csv"
else
  rm -rf "$COHORT_DIR"
  (cd "$TRAINING_DIR" && nice -n 10 "$PYTHON" - "$COHORT_DIR" "$SUBJECTS" "$SEED" "$JOBS" <<'EOF'
import logging
import sys
from pathlib import Path

from dlco_train.simulator.cohort import CohortConfig, generate_cohort

logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
out, subjects, seed, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
shift_profiles = {
    "alpha-standard-1.25": 1,
    "beta-smooth-2.5": 2,
    "delta-permuted-3.0": 2,
    "delta-thin-0.625": 1,
}
config = CohortConfig(
    subjects=subjects,
    seed=seed,
    profile_mix={"beta-thick-5.0": 1, **shift_profiles},
    test_profiles=tuple(shift_profiles),
    split_fractions=(0.0, 0.0, 1.0),
    shift_probability=0.3,
)
print(generate_cohort(config, Path(out), workers))
EOF
  )
fi
end_stage

start_stage batch
if [ -f "$RUN_DIR/complete" ]; then
  skip_stage "$RUN_DIR/complete"
else
  # `dlco batch` reruns a scan whose manifest cells changed, so its manifest keeps only the
  # cells it reads. A partial manifest of the same cells lets batch start on the scans
  # rendered so far, and this stage then skips them.
  "$PYTHON" - "$COHORT_DIR/manifest.csv" "$COHORT_DIR/batch-manifest.csv" <<'EOF'
import csv
import sys

source, target = sys.argv[1:]
columns = ["id", "path", "age", "sex", "height_cm", "weight_kg", "smoking", "pack_years",
           "hb_g_dl", "cohb_percent"]
with open(source, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
with open(target, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows([row[name] for name in columns] for row in rows)
EOF
  batch_shard() {
    cd "$REPO_ROOT" && nice -n 10 npx --no-install dlco batch "$COHORT_DIR/batch-manifest.csv" \
      --out "$RUN_DIR" --model "$MODEL_DIR" --explain "$EXPLAIN" --threads 1 \
      --shard "$SHARD/$SHARDS"
  }
  run_shards batch batch_shard
  # One unsharded pass skips every scan that is already ok and compacts predictions.csv.
  (cd "$REPO_ROOT" && nice -n 10 npx --no-install dlco batch "$COHORT_DIR/batch-manifest.csv" \
    --out "$RUN_DIR" --model "$MODEL_DIR" --explain "$EXPLAIN" --threads 1) \
    >"$LOG_DIR/batch-compact.log" 2>&1
  tail -n 1 "$LOG_DIR/batch-compact.log"
  touch "$RUN_DIR/complete"
fi
# The baseline's estimate of every scan, as a predictions file for `dlco eval --baseline`.
"$PYTHON" - "$RUN_DIR/predictions.csv" "$WORK_DIR/baseline.csv" <<'EOF'
import csv
import sys

source, target = sys.argv[1:]
with open(source, newline="", encoding="utf-8") as f:
    rows = [row for row in csv.DictReader(f) if row["status"] == "ok"]
# The baseline has no estimate where whole-lung QCT is missing. Those scans are listed
# and left out of the file, so `dlco eval` compares the two on the other scans only.
missing = [row["id"] for row in rows if not row["baseline_estimate"]]
with open(target, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "estimate"])
    writer.writerows(
        [row["id"], row["baseline_estimate"]] for row in rows if row["baseline_estimate"]
    )
print(f"{target}: {len(rows) - len(missing)} baseline estimates, none for {missing}")
EOF
end_stage

start_stage bags
bags_shard() {
  "$PYTHON" - "$COHORT_DIR/manifest.csv" "$SHARD" "$SHARDS" <<'EOF'
import csv
import os
import sys

manifest, shard, shards = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(manifest, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
path = os.path.join(os.path.dirname(manifest), f"preprocess-shard-{shard}.csv")
with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "path"])
    writer.writerows([row["id"], row["path"]] for row in rows[shard - 1 :: shards])
EOF
  cd "$REPO_ROOT" && nice -n 10 npx --no-install dlco preprocess \
    "$COHORT_DIR/preprocess-shard-$SHARD.csv" --out "$BAGS_DIR"
}
# `dlco preprocess` itself skips bags that exist with the same preprocessing hash.
run_shards bags bags_shard
end_stage

start_stage patch-order
# Grad-CAM values are indexed by the bag's patch order, and `dlco eval` reads them by the
# index of patches[] in result.json, so both must list the same patches in the same order.
"$PYTHON" - "$COHORT_DIR/manifest.csv" "$BAGS_DIR" "$RUN_DIR" "$WORK_DIR/patch-order.json" <<'EOF'
import csv
import json
import sys

import numpy as np

manifest, bags_dir, run_dir, out = sys.argv[1:]
with open(manifest, newline="", encoding="utf-8") as f:
    ids = [row["id"] for row in csv.DictReader(f)]
worst, mismatched = 0.0, []
for scan_id in ids:
    centres = np.load(f"{bags_dir}/{scan_id}/centers_mm.npy")
    with open(f"{run_dir}/{scan_id}/result.json", encoding="utf-8") as f:
        patches = json.load(f)["patches"]
    listed = np.array([patch["centerMm"] for patch in patches], dtype=np.float64)
    indices = [patch["index"] for patch in patches]
    if listed.shape != centres.shape or indices != list(range(len(patches))):
        mismatched.append(scan_id)
        continue
    gap = float(np.abs(listed - centres).max()) if len(listed) else 0.0
    worst = max(worst, gap)
    if gap > 1e-3:
        mismatched.append(scan_id)
summary = {"scans": len(ids), "mismatched": mismatched, "maxCentreGapMm": worst}
with open(out, "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
print(json.dumps(summary))
if mismatched:
    sys.exit(f"{len(mismatched)} scans list other patches in the bag than in result.json")
EOF
end_stage

start_stage gradcam
if [ -f "$WORK_DIR/gradcam.csv" ]; then
  skip_stage "$WORK_DIR/gradcam.csv"
else
  (cd "$TRAINING_DIR" && nice -n 10 "$PYTHON" -m dlco_train.gradcam \
    --checkpoint "$CHECKPOINT" --bags "$BAGS_DIR" --manifest "$COHORT_DIR/manifest.csv" \
    --out "$WORK_DIR/gradcam.csv" --signed --threads "$JOBS") >"$LOG_DIR/gradcam.log" 2>&1
  tail -n 1 "$LOG_DIR/gradcam.log"
fi
end_stage

# Attention weights exist only for an attention-pooling model, so a second model with the
# demo config but gated attention pooling is trained on the same bags and run on the
# benchmark scans with `--explain attention`. Its weights are compared with the truth
# like the other methods; they explain that model, not the demo model.
ATTENTION_CSV="$WORK_DIR/attention.csv"
start_stage attention
if [ -f "$ATTENTION_CSV" ]; then
  skip_stage "$ATTENTION_CSV"
else
  "$PYTHON" - "$CONFIG" "$WORK_DIR/attention-config.json" "${ABLATION_EPOCHS[@]}" <<'EOF'
import json
import sys

source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    config = json.load(f)
config["pooling"] = "attention"
if len(sys.argv) > 4:
    config["epochs"] = int(sys.argv[4])
with open(target, "w", encoding="utf-8") as f:
    json.dump(config, f, indent=2)
EOF
  if [ ! -f "$WORK_DIR/attention-run/metrics.json" ]; then
    resume=()
    if [ -f "$WORK_DIR/attention-run/checkpoint-last.pt" ]; then
      resume=(--resume)
    fi
    (cd "$TRAINING_DIR" && nice -n 10 "$PYTHON" -m dlco_train.train \
      --config "$WORK_DIR/attention-config.json" --bags "$TRAIN_WORK/bags" \
      --manifest "$TRAIN_WORK/cohort/manifest.csv" --out "$WORK_DIR/attention-run" \
      --device cpu "${resume[@]}") >"$LOG_DIR/attention-train.log" 2>&1
  fi
  rm -rf "$WORK_DIR/attention-model"
  (cd "$TRAINING_DIR" && "$PYTHON" -m dlco_train.export \
    --checkpoint "$WORK_DIR/attention-run/checkpoint-best.pt" \
    --out "$WORK_DIR/attention-model" --model-id dlco-ct-attention-benchmark) \
    >"$LOG_DIR/attention-export.log" 2>&1
  attention_shard() {
    cd "$REPO_ROOT" && nice -n 10 npx --no-install dlco batch "$COHORT_DIR/batch-manifest.csv" \
      --out "$WORK_DIR/attention-batch" --model "$WORK_DIR/attention-model" \
      --explain attention --threads 1 --shard "$SHARD/$SHARDS"
  }
  run_shards attention attention_shard
  "$PYTHON" - "$COHORT_DIR/manifest.csv" "$WORK_DIR/attention-batch" "$ATTENTION_CSV" <<'EOF'
import csv
import json
import os
import sys

manifest, run_dir, target = sys.argv[1:]
with open(manifest, newline="", encoding="utf-8") as f:
    ids = [row["id"] for row in csv.DictReader(f)]
rows = []
for scan_id in ids:
    with open(os.path.join(run_dir, scan_id, "result.json"), encoding="utf-8") as f:
        patches = json.load(f)["patches"]
    rows += [[scan_id, patch["index"], patch["attentionWeight"]] for patch in patches]
partial = target + ".partial"
with open(partial, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "patch_index", "value"])
    writer.writerows(rows)
os.replace(partial, target)
print(f"{target}: {len(ids)} scans, {len(rows)} patches")
EOF
fi
end_stage

ABLATION_DIR="$WORK_DIR/ablation"
if [ "$ABLATION" = yes ]; then
  start_stage ablation
  if [ -f "$ABLATION_DIR/ablation.csv" ]; then
    skip_stage "$ABLATION_DIR/ablation.csv"
  else
    # With configs/demo.json and its own epoch count, the image_metadata_input variant is
    # the demo training run itself (same config, seed and bags), so its finished run is
    # copied and the ablation only evaluates it. With --ablation-epochs every variant
    # trains for that many epochs, so all three have the same budget.
    if [ ${#ABLATION_EPOCHS[@]} -eq 0 ] && [ ! -d "$ABLATION_DIR/image_metadata_input" ]; then
      mkdir -p "$ABLATION_DIR"
      cp -r "$TRAIN_WORK/run" "$ABLATION_DIR/image_metadata_input"
    fi
    (cd "$TRAINING_DIR" && nice -n 10 "$PYTHON" -m dlco_train.ablation --config "$CONFIG" \
      --bags "$TRAIN_WORK/bags" --manifest "$TRAIN_WORK/cohort/manifest.csv" \
      --out "$ABLATION_DIR" --device cpu "${ABLATION_EPOCHS[@]}") >"$LOG_DIR/ablation.log" 2>&1
    tail -n 14 "$LOG_DIR/ablation.log"
  fi
  end_stage

  start_stage ablation-benchmark
  # Each variant's best checkpoint and the linear baseline fitted on the demo training
  # split, scored on every benchmark scan, with 95 % bootstrap intervals over subjects.
  (cd "$TRAINING_DIR" && nice -n 10 "$PYTHON" - "$ABLATION_DIR" "$BAGS_DIR" \
    "$COHORT_DIR/manifest.csv" "$RUN_DIR/predictions.csv" <<'EOF'
import csv
import json
import os
import sys

import numpy as np
import torch

from dlco_train.bags import read_bag
from dlco_train.checkpoints import load_checkpoint, model_from_checkpoint
from dlco_train.evaluation import evaluate
from dlco_train.manifest import read_manifest

ablation_dir, bags_dir, manifest, predictions = sys.argv[1:]
torch.set_num_threads(2)
rows = read_manifest(manifest)
shift = np.array([row.columns["scanner_shift"] == "1" for row in rows])
vascular = np.array([row.columns["phenotype"] == "vascular" for row in rows])
target = np.array([row.dlco for row in rows])
with open(predictions, newline="", encoding="utf-8") as f:
    baseline = {
        row["id"]: float(row["baseline_estimate"] or "nan") for row in csv.DictReader(f)
    }
estimates = {"linear_baseline": np.array([baseline[row.scan_id] for row in rows])}
for name in ("image_only", "image_metadata_input", "image_metadata_aux"):
    path = os.path.join(ablation_dir, name, "checkpoint-best.pt")
    if not os.path.exists(path):
        continue
    checkpoint = load_checkpoint(path)
    model, _ = model_from_checkpoint(checkpoint)
    expected = checkpoint["preprocessing"]["hash"]
    bags = [read_bag(os.path.join(bags_dir, row.scan_id), expected_hash=expected) for row in rows]
    estimates[name] = evaluate(model, bags, rows, device=torch.device("cpu"))["dlco"]

rng = np.random.default_rng(0)
# The baseline has no estimate where whole-lung QCT is missing, so its MAE and the paired
# difference use the scans with both estimates.
paired = ~np.isnan(estimates["linear_baseline"])
paired_index = np.flatnonzero(paired)
resamples = paired_index[rng.integers(0, len(paired_index), size=(2000, len(paired_index)))]


def mae_with_interval(errors, subset):
    chosen = np.flatnonzero(subset & ~np.isnan(errors))
    picks = chosen[rng.integers(0, len(chosen), size=(2000, len(chosen)))]
    boot = np.abs(errors[picks]).mean(axis=1)
    return [float(np.abs(errors[chosen]).mean()), *np.percentile(boot, [2.5, 97.5]).tolist()]


table = []
for name, estimate in estimates.items():
    errors = estimate - target
    finite = ~np.isnan(estimate)
    difference = np.abs(errors) - np.abs(estimates["linear_baseline"] - target)
    boot_difference = difference[resamples].mean(axis=1)
    table.append(
        {
            "variant": name,
            "n": len(rows),
            "mae": mae_with_interval(errors, np.ones(len(rows), bool)),
            "n_paired": int(paired.sum()),
            "mae_minus_baseline": [
                float(difference[paired].mean()),
                *np.percentile(boot_difference, [2.5, 97.5]).tolist(),
            ],
            "r": float(np.corrcoef(estimate[finite], target[finite])[0, 1]),
            "mae_in_distribution": mae_with_interval(errors, ~shift),
            "mae_scanner_shift": mae_with_interval(errors, shift),
            "mae_vascular": mae_with_interval(errors, vascular),
        }
    )
with open(os.path.join(ablation_dir, "benchmark.json"), "w", encoding="utf-8") as f:
    json.dump({"resamples": 2000, "numpySeed": 0, "rows": table}, f, indent=2)
with open(os.path.join(ablation_dir, "benchmark-predictions.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "dlco", *estimates])
    for index, row in enumerate(rows):
        writer.writerow([row.scan_id, row.dlco, *(f"{e[index]:.4f}" for e in estimates.values())])


def cell(values):
    return f"{values[0]:.2f} [{values[1]:.2f}, {values[2]:.2f}]"


print("variant | MAE | MAE - baseline | r | in distribution | scanner shift | vascular")
for row in table:
    print(
        f"{row['variant']} | {cell(row['mae'])} | {cell(row['mae_minus_baseline'])} | "
        f"{row['r']:.3f} | {cell(row['mae_in_distribution'])} | "
        f"{cell(row['mae_scanner_shift'])} | {cell(row['mae_vascular'])}"
    )
EOF
  ) >"$LOG_DIR/ablation-benchmark.log" 2>&1
  cat "$LOG_DIR/ablation-benchmark.log"
  end_stage
fi

start_stage eval
(cd "$REPO_ROOT" && nice -n 10 npx --no-install dlco eval "$RUN_DIR/predictions.csv" \
  --labels "$COHORT_DIR/manifest.csv" --baseline "$WORK_DIR/baseline.csv" \
  --strata phenotype,scanner_profile,scanner_shift \
  --explanation "gradcam=$WORK_DIR/gradcam.csv" \
  --explanation "attention-model=$ATTENTION_CSV" --out "$WORK_DIR/eval") \
  >"$LOG_DIR/eval.log" 2>&1 || {
  tail -n 20 "$LOG_DIR/eval.log"
  exit 1
}
tail -n 20 "$LOG_DIR/eval.log"
end_stage

TOTAL_SECONDS=$(($(date +%s) - TOTAL_START))
printf '%s\t%s\t%s\t%s\n' total "$TOTAL_SECONDS" - "$(load_average)" >>"$TIMINGS"
echo
echo "benchmark-known-truth: wall time per stage (seconds, load average at the end):"
column -t -s $'\t' "$TIMINGS"
echo "benchmark-known-truth: results in $WORK_DIR/eval (metrics.json, *.csv)"
"$PYTHON" "$TRAINING_DIR/scripts/known_truth_summary.py" "$WORK_DIR" >"$WORK_DIR/summary.md"
echo "benchmark-known-truth: tables in $WORK_DIR/summary.md"
