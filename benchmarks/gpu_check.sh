#!/usr/bin/env bash
# The GPU check, one command on a machine whose JAX sees a CUDA GPU:
#
#   bash benchmarks/gpu_check.sh OUT [TRAIN_STEPS] [TRAIN_SECONDS]
#
# 1. benchmarks/update_speed.py on the GPU (updates and action selection, SAC vs S2AC);
# 2. `s2ac runtime --devices gpu` (Table 1: ms per action on the four MuJoCo tasks);
# 3. S2AC(phi, theta) on Hopper-v5 with its defaults on the GPU, seeds 0 1 2 at once, TRAIN_STEPS steps (default
#    50000), each stopped after TRAIN_SECONDS (default 300): its metrics.csv holds what it reached.
# Outputs go to OUT (update_speed.txt, runtime/, hopper/); the steps are printed with their wall time.
set -u
out=${1:?usage: gpu_check.sh OUT [TRAIN_STEPS] [TRAIN_SECONDS]}
steps=${2:-50000}
seconds=${3:-300}
mkdir -p "$out"
# Several JAX processes share the GPU: each takes memory as it needs it instead of 75% up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
python=${PYTHON:-python3}
stamp() { echo "[$(date +%T)] $*"; }

stamp "devices: $($python -c 'import jax; print(jax.devices())')"
stamp "update benchmark"
timeout 240 $python benchmarks/update_speed.py --rounds 10 2>&1 | tee "$out/update_speed.txt"
stamp "runtime table"
timeout 240 $python -m s2ac.cli runtime --devices gpu --calls 300 --out "$out/runtime" --no-progress 2>&1 | tail -n 20
stamp "training: S2AC(phi, theta) on Hopper-v5, seeds 0 1 2, $steps steps, at most $seconds s each"
mkdir -p "$out/hopper"
for seed in 0 1 2; do
  timeout "$seconds" $python -m s2ac.cli train --algo s2ac --env Hopper-v5 --steps "$steps" --seed "$seed" \
    --out "$out/hopper/s2ac/seed_$seed" --no-progress > "$out/hopper/log_$seed.txt" 2>&1 &
done
wait
for seed in 0 1 2; do
  stamp "seed $seed: last row $(tail -n 1 "$out/hopper/s2ac/seed_$seed/metrics.csv" 2>/dev/null | cut -d, -f1,2,10,11)"
done
stamp "done"
