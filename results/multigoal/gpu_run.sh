#!/usr/bin/env bash
# Train multigoal agents on a lent GPU machine for a fixed wall time and pack their run directories:
#
#   [FROM=DIR] [CPU_ARGS="..."] bash results/multigoal/gpu_run.sh OUT SECONDS [ARGS...]
#
# ARGS select the agents the GPU trains, as `s2ac multigoal` takes them (default: S2AC(phi, theta) on the classic
# task, seed 0, then on the max-entropy task at alpha 10, seed 0); one at a time, since processes sharing the GPU
# are time-sliced and running them at once adds no throughput. CPU_ARGS, if given, select agents for a second
# study process on the machine's CPU cores (e.g. "--parts classic --algos sac --seeds 1 2 --workers 2"). Both
# share one study directory, /tmp/mg, through its per-run locks; FROM, a study directory carried to the machine,
# is copied there first, so that its unfinished agents resume from their checkpoints.
# After SECONDS both are stopped (an agent loses what it did since its last checkpoint, at most 10000 steps) and
# the study directory, without compilation caches, locks and results, is packed into OUT/runs.tgz.aa, .ab, ...
# (15 MiB each). Unpack here with `cat runs.tgz.* | tar xzf - -C runs/multigoal`; the same `s2ac multigoal`
# command then measures what came back and resumes what did not finish.
#
# The runs of 2026-11-30 (their agents are in results/multigoal), on one H200 machine, the second while it was
# still warm (its /tmp/mg kept the first's agents, so only the max-entropy agent trained):
#   CPU_ARGS="--parts classic --algos sac --seeds 1 2 --workers 2" bash results/multigoal/gpu_run.sh $OUT 525
#   CPU_ARGS="--parts classic --algos sac --seeds 1 2 --workers 2" bash results/multigoal/gpu_run.sh $OUT 255
set -u
out=${1:?usage: gpu_run.sh OUT SECONDS [ARGS...]}
seconds=${2:?usage: gpu_run.sh OUT SECONDS [ARGS...]}
shift 2
if [ $# -eq 0 ]; then
  set -- --parts classic maxent --algos s2ac_phi_theta --alphas 10 --seeds 0
fi
work=/tmp/mg
mkdir -p "$out" "$work"
if [ -n "${FROM:-}" ]; then
  cp -r "$FROM"/. "$work"/
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
stamp() { echo "[$(date +%T)] $*"; }

stamp "devices: $($python -c 'import jax; print(jax.devices())')"
timeout "$seconds" $python -m s2ac.cli multigoal --out "$work" --workers 1 --no-progress "$@" \
  > "$out/gpu_study.log" 2>&1 &
if [ -n "${CPU_ARGS:-}" ]; then
  # shellcheck disable=SC2086  # CPU_ARGS is a list of arguments
  JAX_PLATFORMS=cpu timeout "$seconds" $python -m s2ac.cli multigoal --out "$work" --no-progress $CPU_ARGS \
    > "$out/cpu_study.log" 2>&1 &
fi
wait
stamp "stopped; rows reached:"
for f in $(find "$work" -name metrics.csv); do echo "$f: $(tail -n 1 "$f" | cut -d, -f1,2,10,11)"; done
(cd "$work" && tar czf - --exclude=.xla_cache --exclude='*.lock' --exclude='*.png' --exclude=results.json \
  --exclude=summary.txt --exclude=sweep.json s2ac_*) | split -b 15m - "$out/runs.tgz."
ls -la "$out"
stamp "done"
