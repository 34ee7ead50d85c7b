#!/usr/bin/env bash
# Builds the demo model in models/demo from nothing on a CPU machine. It simulates a cohort,
# writes patch bags with `dlco preprocess`, trains with configs/demo.json and exports ONNX
# with the model card. Training also fits the linear baseline on the training split and
# evaluates model and baseline on val and test. Every stage prints its wall time and the
# load average.
#
# Usage: training/scripts/train-demo.sh [--seed N] [--subjects N] [--work DIR] [--out DIR]
#                                       [--jobs N]
#
# Stages whose output exists in the work folder are skipped (cohort manifest, bags with the
# same preprocessing hash, a finished run), and an interrupted training run is resumed.
# Delete the work folder for a clean run, and WORK/run after changing configs/demo.json.
set -euo pipefail

TRAINING_DIR="$(cd "$(dirname "$0")/.." && pwd)"
REPO_ROOT="$(cd "$TRAINING_DIR/.." && pwd)"

SEED=7
SUBJECTS=400
WORK_DIR="$REPO_ROOT/tmp/demo-train"
OUT_DIR="$REPO_ROOT/models/demo"
JOBS=2
CONFIG="$TRAINING_DIR/configs/demo.json"
# A thick-slice profile keeps simulation and preprocessing fast on a CPU. Test subjects use
# the same profile, so the held-out metrics contain no scanner shift.
PROFILE_MIX="beta-thick-5.0=1"
MODEL_ID="dlco-ct-demo"

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED="$2"; shift 2 ;;
    --subjects) SUBJECTS="$2"; shift 2 ;;
    --work) WORK_DIR="$2"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "train-demo: invalid argument '$1'; see --help" >&2; exit 2 ;;
  esac
done

WORK_DIR="$(mkdir -p "$WORK_DIR" && cd "$WORK_DIR" && pwd)"
COHORT_DIR="$WORK_DIR/cohort"
BAGS_DIR="$WORK_DIR/bags"
RUN_DIR="$WORK_DIR/run"
LOG_DIR="$WORK_DIR/logs"
TIMINGS="$WORK_DIR/timings.tsv"
PYTHON="$TRAINING_DIR/.venv/bin/python"
mkdir -p "$LOG_DIR"

# shellcheck source=stages.sh
source "$TRAINING_DIR/scripts/stages.sh"

TOTAL_START=$(date +%s)
printf 'stage\tseconds\tskipped\tload_average_at_end\n' >"$TIMINGS"
echo "train-demo: seed $SEED, $SUBJECTS subjects, work folder $WORK_DIR, model folder $OUT_DIR"
echo "train-demo: $(nproc) CPUs, load average $(load_average)"

start_stage setup
(cd "$TRAINING_DIR" && bash scripts/setup-venv.sh)
end_stage

start_stage simulate
if [ -f "$COHORT_DIR/manifest.csv" ]; then
  # A cohort of another size or seed would train a model that training-run.json misdescribes.
  "$PYTHON" - "$COHORT_DIR/cohort.json" "$SUBJECTS" "$SEED" <<'EOF'
import json
import sys

path, subjects, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, encoding="utf-8") as f:
    config = json.load(f)["config"]
if (config["subjects"], config["seed"]) != (subjects, seed):
    sys.exit(
        f"train-demo: {path} has {config['subjects']} subjects with seed {config['seed']}, "
        f"not {subjects} with seed {seed}; use another --work or delete its cohort folder"
    )
EOF
  echo "cohort exists at $COHORT_DIR; skipping"
  STAGE_SKIPPED=yes
else
  # The simulator keeps the finished subjects of a stopped run in the same folder.
  (cd "$TRAINING_DIR" && "$PYTHON" -m dlco_train.simulator --out "$COHORT_DIR" \
    --n "$SUBJECTS" --seed "$SEED" --profile-mix "$PROFILE_MIX" --test-profiles "" \
    --workers "$JOBS")
fi
end_stage

start_stage preprocess
# `dlco preprocess` handles one scan at a time, so the manifest is split into one shard per
# job. The shards stay in the cohort folder because scan paths are relative to it.
"$PYTHON" - "$COHORT_DIR/manifest.csv" "$JOBS" <<'EOF'
import csv
import os
import sys

manifest, jobs = sys.argv[1], int(sys.argv[2])
with open(manifest, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
for shard in range(jobs):
    path = os.path.join(os.path.dirname(manifest), f"preprocess-shard-{shard}.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "path"])
        for row in rows[shard::jobs]:
            writer.writerow([row["id"], row["path"]])
EOF
pids=()
for ((shard = 0; shard < JOBS; shard++)); do
  (cd "$REPO_ROOT" && npx --no-install dlco preprocess \
    "$COHORT_DIR/preprocess-shard-$shard.csv" --out "$BAGS_DIR") \
    >"$LOG_DIR/preprocess-$shard.log" 2>&1 &
  pids+=($!)
done
failed=0
for ((shard = 0; shard < JOBS; shard++)); do
  if ! wait "${pids[$shard]}"; then
    failed=1
  fi
  tail -n 1 "$LOG_DIR/preprocess-$shard.log"
done
if [ "$failed" -ne 0 ]; then
  echo "train-demo: preprocessing failed; see $LOG_DIR/preprocess-*.log" >&2
  exit 1
fi
end_stage

start_stage train
if [ -f "$RUN_DIR/metrics.json" ]; then
  echo "finished run exists at $RUN_DIR; skipping"
  STAGE_SKIPPED=yes
else
  resume=()
  if [ -f "$RUN_DIR/checkpoint-last.pt" ]; then
    resume=(--resume)
  fi
  (cd "$TRAINING_DIR" && "$PYTHON" -m dlco_train.train --config "$CONFIG" \
    --bags "$BAGS_DIR" --manifest "$COHORT_DIR/manifest.csv" --out "$RUN_DIR" \
    --seed "$SEED" --device cpu "${resume[@]}")
fi
end_stage

start_stage export
# Export into a fresh folder, then replace the model folder, so no file of an older model
# is left behind.
rm -rf "$WORK_DIR/export"
(cd "$TRAINING_DIR" && "$PYTHON" -m dlco_train.export \
  --checkpoint "$RUN_DIR/checkpoint-best.pt" --out "$WORK_DIR/export" --model-id "$MODEL_ID")
cp "$RUN_DIR/learning-curves.csv" "$RUN_DIR/predictions.csv" "$WORK_DIR/export/"
end_stage

TOTAL_SECONDS=$(($(date +%s) - TOTAL_START))
printf '%s\t%s\t%s\t%s\n' total "$TOTAL_SECONDS" - "$(load_average)" >>"$TIMINGS"

"$PYTHON" - "$WORK_DIR" "$TIMINGS" "$SEED" "$SUBJECTS" "$PROFILE_MIX" "$CONFIG" <<'EOF'
import csv
import json
import os
import platform
import sys

work_dir, timings_path, seed, subjects, profile_mix, config_path = sys.argv[1:]
with open(timings_path, newline="", encoding="utf-8") as f:
    stages = [
        {
            "stage": row["stage"],
            "seconds": int(row["seconds"]),
            "skipped": row["skipped"] == "yes",
            "loadAverageAtEnd": [float(v) for v in row["load_average_at_end"].split()],
        }
        for row in csv.DictReader(f, delimiter="\t")
    ]
with open(config_path, encoding="utf-8") as f:
    config = json.load(f)
record = {
    "command": "training/scripts/train-demo.sh",
    "simulator": {
        "seed": int(seed),
        "subjects": int(subjects),
        "profileMix": profile_mix,
        "testProfiles": [],
        "phenotypeMix": "simulator default",
    },
    "trainingSeed": int(seed),
    "config": config,
    "cpuCount": os.cpu_count(),
    "machine": platform.platform(),
    "stages": stages,
}
with open(os.path.join(work_dir, "export", "training-run.json"), "w", encoding="utf-8") as f:
    json.dump(record, f, indent=2)
    f.write("\n")
EOF

rm -rf "$OUT_DIR"
mkdir -p "$(dirname "$OUT_DIR")"
cp -r "$WORK_DIR/export" "$OUT_DIR"

echo
echo "train-demo: model folder $OUT_DIR ($(du -sh "$OUT_DIR" | cut -f1))"
echo "train-demo: wall time per stage (seconds, load average at the end):"
column -t -s $'\t' "$TIMINGS"
echo "train-demo: held-out metrics (ml/min/mmHg; coverage95 is the share inside dlco ± 1.96 sigma):"
"$PYTHON" - "$RUN_DIR/metrics.json" <<'EOF'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    metrics = json.load(f)
print(f"best epoch {metrics['bestEpoch']}")
print(f"{'split':6} {'estimator':9} {'n':>4} {'MAE':>6} {'RMSE':>6} {'r':>6} {'cov95':>6}")
for split in ("val", "test"):
    for name in ("model", "baseline"):
        values = metrics.get(split, {}).get(name)
        if values is None:
            continue

        def fmt(key):
            value = values.get(key)
            return f"{value:6.3f}" if isinstance(value, (int, float)) else f"{'-':>6}"

        print(
            f"{split:6} {name:9} {values['n']:4d} {fmt('mae')} {fmt('rmse')} "
            f"{fmt('r')} {fmt('coverage95')}"
        )
EOF
