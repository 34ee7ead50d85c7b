# Stage timing shared by train-demo.sh and benchmark-known-truth.sh. Source it after setting
# TIMINGS, the tab-separated file to which each finished stage appends a row.

load_average() {
  cut -d' ' -f1-3 /proc/loadavg
}

STAGE_NAME=""
STAGE_START=0
# "yes" when a stage finds its output and skips its work. It is recorded with the timings.
STAGE_SKIPPED=no

start_stage() {
  STAGE_NAME="$1"
  STAGE_START=$(date +%s)
  STAGE_SKIPPED=no
  echo "== $STAGE_NAME: started $(date -u +%H:%M:%S) UTC, load average $(load_average)"
}

end_stage() {
  local seconds=$(($(date +%s) - STAGE_START))
  local load
  load="$(load_average)"
  printf '%s\t%s\t%s\t%s\n' "$STAGE_NAME" "$seconds" "$STAGE_SKIPPED" "$load" >>"$TIMINGS"
  echo "== $STAGE_NAME: $seconds s (skipped: $STAGE_SKIPPED), load average $load"
}

skip_stage() {
  echo "$1 exists; skipping"
  STAGE_SKIPPED=yes
}
