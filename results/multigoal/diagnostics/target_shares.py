"""Is the policy's choice of goal at the start its critic's? The max-entropy target against the policy's samples.

Every agent of the study acts toward ``pi*(a|s) ∝ exp(Q(s, a) / alpha)`` on its own critic: SVGD samples it, SQL's
sampler is trained toward it, SAC's Gaussian is fitted to it. The study keeps each agent's ``min_k Q`` at the
start on a 21 x 21 grid of the action box (``q[0]`` in ``evaluation.npz``). From it, for each agent:
- ``target``: the share of ``pi*``'s mass at the start pointing most nearly toward each goal (the grid's
  ``softmax(Q / alpha)`` weights, assigned to goal directions as the study's ``start_direction_shares`` assigns
  the policy's samples);
- ``policy``: the study's ``start_direction_shares`` (the policy's 1000 samples at the start);
- ``gap``: per goal, ``(max Q toward it - max Q) / alpha``, in nats: how much less likely under ``pi*`` the best
  action toward that goal is than the best action overall (0 for the best goal).
Read-only, from the kept records (no checkpoint needed); the grid is coarse (spacing 0.1), so the target's shares
are a reading of where its mass lies, not an exact integral.

    python results/multigoal/diagnostics/target_shares.py [--csv FILE] RUN_DIR [RUN_DIR ...]
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

from s2ac.experiments.multigoal import (
    CRITICAL_STATES,
    EVALUATION_FILE,
    GOAL_NAMES,
    GOALS,
    direction_shares,
    grid,
    nearest_goal,
)


def target_reading(run_dir: Path) -> dict:
    outcome = json.loads((run_dir / "outcome.json").read_text())
    env_id, alpha = outcome["env"], float(outcome["alpha"])
    q = np.load(run_dir / EVALUATION_FILE)["q"][0].ravel().astype(float)
    actions = grid(int(round(np.sqrt(q.size))), -1.0, 1.0)  # the study's action grid, x fastest (as q)
    goals, start = np.asarray(GOALS[env_id]), np.asarray(CRITICAL_STATES[env_id][0])
    logits = q / alpha
    weights = np.exp(logits - logits.max())
    target = direction_shares(actions, goals, start, weights / weights.sum())
    nearest = nearest_goal(actions, goals, start)
    gaps = [float((q[nearest == g].max() - q.max()) / alpha) for g in range(len(goals))]
    names = GOAL_NAMES[env_id]
    return {"run": str(run_dir), "algo": outcome["algo"], "alpha": alpha, "seed": outcome["seed"],
            "target": dict(zip(names, target, strict=True)),
            "policy": outcome["start_direction_shares"],
            "episodes": outcome["goal_shares"],
            "gap": dict(zip(names, gaps, strict=True))}


def main(arguments: list[str]) -> None:
    out = None
    if "--csv" in arguments:
        at = arguments.index("--csv")
        out, arguments = Path(arguments[at + 1]), arguments[:at] + arguments[at + 2:]
    rows = [target_reading(Path(a)) for a in arguments]
    fmt = lambda d: " ".join(f"{k}:{v:.2f}" for k, v in d.items())  # noqa: E731
    for row in rows:
        print(f"{row['algo']:15s} alpha {row['alpha']:g} seed {row['seed']}")
        print(f"  target  {fmt(row['target'])}   gap (nats) {fmt(row['gap'])}")
        print(f"  policy  {fmt(row['policy'])}   episodes {fmt(row['episodes'])}")
    if out is not None:
        kinds, names = ("target", "policy", "episodes", "gap"), list(rows[0]["target"])
        with out.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["algo", "alpha", "seed", *(f"{kind}_{n}" for kind in kinds for n in names),
                             "episodes_none"])
            for row in rows:
                writer.writerow([row["algo"], row["alpha"], row["seed"],
                                 *(round(row[kind][n], 4) for kind in kinds for n in names), row["episodes"]["none"]])


if __name__ == "__main__":
    main(sys.argv[1:])
