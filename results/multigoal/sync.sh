#!/usr/bin/env bash
# Copy a multigoal study directory's small outputs into results/multigoal, and restore them from there:
#
#   bash results/multigoal/sync.sh [STUDY_DIR]             # STUDY_DIR -> results/multigoal (default runs/multigoal)
#   bash results/multigoal/sync.sh --restore [STUDY_DIR]   # results/multigoal/runs -> STUDY_DIR
#
# Kept per agent (results/multigoal/runs/<task>/<algorithm>/<part>/alpha_<a>/seed_<n>): its record (outcome.json),
# metrics.csv, config.json and the arrays the figures are drawn from (evaluation.npz; agents synced before
# 2026-12-01 lack it); never checkpoints. Kept for the study: results.json, summary.txt and the figures. Run
# `s2ac multigoal --out STUDY_DIR --no-train` first, so that results.json and summary.txt cover every agent (a
# training command restricted by --algos/--alphas/--seeds writes only its own selection).
# --restore copies the kept agents into STUDY_DIR without overwriting anything there; `s2ac multigoal --out
# STUDY_DIR --no-train` then writes the results of all of them (figures that need arrays an agent lacks are
# skipped, and the copies in results/multigoal stay as drawn), and a training command trains only what is missing.
set -eu
cd "$(dirname "$0")/../.."
results=results/multigoal
if [ "${1:-}" = "--restore" ]; then
  study=${2:-runs/multigoal}
  mkdir -p "$study"
  cp -rn "$results/runs/." "$study/"
  echo "restored $(find "$results/runs" -name outcome.json | wc -l) agents' records into $study"
  exit 0
fi
study=${1:-runs/multigoal}
[ -f "$study/results.json" ] || { echo "sync.sh: $study has no results.json: run s2ac multigoal --out $study --no-train" >&2; exit 2; }
count=0
while IFS= read -r record; do
  run=$(dirname "$record")
  keep="$results/runs/${run#"$study"/}"
  mkdir -p "$keep"
  for name in outcome.json metrics.csv config.json evaluation.npz; do
    [ -f "$run/$name" ] && cp "$run/$name" "$keep/$name"
  done
  count=$((count + 1))
done < <(find "$study" -name outcome.json -path '*/seed_*')
cp "$study/results.json" "$study/summary.txt" "$results/"
find "$study" -maxdepth 1 -name '*.png' -exec cp {} "$results/" \;
echo "synced $count agents and the study's results from $study into $results"
