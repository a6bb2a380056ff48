#!/usr/bin/env bash
# Copy a multigoal study directory's small outputs into results/multigoal, and restore them from there:
#
#   bash results/multigoal/sync.sh [STUDY_DIR]             # STUDY_DIR (default runs/multigoal) -> results/multigoal
#   bash results/multigoal/sync.sh --restore [STUDY_DIR]   # results/multigoal/runs -> STUDY_DIR
#
# Kept per agent (results/multigoal/runs/<task>/<algorithm>/<part>/alpha_<a>/seed_<n>): its record (outcome.json),
# metrics.csv, config.json and the arrays the figures are drawn from (evaluation.npz; agents synced before
# 2026-12-01 lack it); never checkpoints. Kept for the study: results.json, summary.txt and the figures it lists. Run
# `s2ac multigoal --out STUDY_DIR --no-train` first, so that results.json and summary.txt cover every agent (a
# training command restricted by --algos/--alphas/--seeds writes only its own selection).
#
# --restore copies each kept agent whose run directory STUDY_DIR does not have yet (an agent there, finished or
# interrupted, is left alone). `s2ac multigoal --out STUDY_DIR --no-train` then writes the results of all of them
# (figures that need arrays an agent lacks are skipped), and a training command trains the agents with no record.
# A restored agent has no checkpoint: a command that needs more of it (a larger --steps, or measures of a newer
# version) trains it again from the start.
set -eu
restore=false
if [ "${1:-}" = "--restore" ]; then restore=true; shift; fi
study=$(realpath -m "${1:-runs/multigoal}")  # as the caller named it, before the cd below
cd "$(dirname "$0")/../.."
results=results/multigoal
if $restore; then
  mkdir -p "$study"
  count=0
  while IFS= read -r run; do
    if [ ! -e "$study/$run" ]; then
      mkdir -p "$(dirname "$study/$run")"
      cp -r "$results/runs/$run" "$study/$run"
      count=$((count + 1))
    fi
  done < <(find "$results/runs" -name outcome.json -printf '%h\n' | sed "s|^$results/runs/||")
  echo "restored $count agents into $study"
  exit 0
fi
[ -f "$study/results.json" ] || { echo "sync.sh: $study has no results.json: run s2ac multigoal --out $study --no-train" >&2; exit 2; }
count=0
while IFS= read -r run; do
  mkdir -p "$results/runs/$run"
  for name in outcome.json metrics.csv config.json evaluation.npz; do
    if [ -f "$study/$run/$name" ]; then cp "$study/$run/$name" "$results/runs/$run/$name"; fi
  done
  count=$((count + 1))
done < <(find "$study" -name outcome.json -path '*/seed_*' -printf '%h\n' | sed "s|^$study/||")
cp "$study/results.json" "$study/summary.txt" "$results/"
# Only the figures that aggregation drew: a training command restricted to some agents leaves its own, drawn from
# those agents alone, in the study directory.
python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["figures"]))' "$study/results.json" |
  while IFS= read -r figure; do cp "$study/$figure" "$results/"; done
echo "synced $count agents and the study's results from $study into $results"
