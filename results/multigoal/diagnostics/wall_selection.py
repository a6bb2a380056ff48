"""Is an S2AC policy's fate at the wall set by the policy or by the rule that picks the acting particle?

The study tests S2AC with one particle drawn by ``softmax(Q / alpha)`` (its ``stochastic_mode``). Here the same
test episodes with the wall (``s2ac/MultiGoalMaxEntObstacle-v0``, the study's seed: the same starts) are run
with each selection rule of the agent: ``random`` (a uniformly drawn particle: a sample of the policy itself),
``softmax`` (the study's) and ``max_q`` (the particle of highest Q: deterministic given the particles). For each:
the share of episodes ending at each goal, at none, and the share ever blocked by the wall. Read-only.

    python results/multigoal/diagnostics/wall_selection.py RUN_DIR [RUN_DIR ...]
"""

import json
import sys
from pathlib import Path

import numpy as np

from s2ac.algorithms.base import OffPolicyAgent
from s2ac.envs import make_env
from s2ac.training.evaluation import evaluate
from s2ac.training.files import MODEL_FILE

WALL_ENV = "s2ac/MultiGoalMaxEntObstacle-v0"
GOALS = ("G1", "G2", "G3")
EPISODES = 50
SELECTIONS = ("random", "softmax", "max_q")


def wall_test(run_dir: Path, selection: str, seed: int) -> dict[str, float]:
    agent = OffPolicyAgent.load(run_dir / MODEL_FILE)
    env = make_env(WALL_ENV)
    try:
        result = evaluate(agent, env, EPISODES, seed, mode=selection, record_infos=True)
    finally:
        env.close()
    ends = np.array([infos[-1]["goal"] for infos in result.infos])
    blocked = np.array([any(info["blocked"] for info in infos) for infos in result.infos])
    shares = {name: float(np.mean(ends == i)) for i, name in enumerate(GOALS)}
    return shares | {"none": float(np.mean(ends < 0)), "blocked": float(blocked.mean()),
                     "return": float(result.returns.mean())}


def main(run_dirs: list[str]) -> None:
    for name in run_dirs:
        run_dir = Path(name)
        seed = json.loads((run_dir / "config.json").read_text())["seed"]
        print(run_dir)
        for selection in SELECTIONS:
            row = wall_test(run_dir, selection, seed)
            print(f"  {selection:8s} " + " ".join(f"{k}:{v:.2f}" for k, v in row.items() if k != "return")
                  + f" return:{row['return']:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
