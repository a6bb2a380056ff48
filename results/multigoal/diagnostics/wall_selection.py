"""Why S2AC's test episodes stall at the wall more than SAC's, measured on trained max-entropy agents.

The study tests S2AC with one particle drawn by ``softmax(Q / alpha)`` (its ``stochastic_mode``). Here the same
test episodes with the wall (the study's ``rollouts`` on ``s2ac/MultiGoalMaxEntObstacle-v0``, the study's seed: the
same starts) are run
- for S2AC with each selection rule: ``random`` (a uniformly drawn particle: a sample of the policy itself),
  ``softmax`` (the study's) and ``max_q`` (the particle of highest Q); for other agents with their own
  ``stochastic_mode``, as in the study;
- reporting the share of episodes ending at each goal, at none, the share ever blocked by the wall, and of the
  blocked ones the share that still reached a goal.
Then, where the study's blocked episodes that reached no goal ended (their mean last position), the policy's
1000 actions there: the mean per-coordinate standard deviation of the action and the share of actions that
point away from the wall's side (a move with a positive component along the wall's outward normal, the one
that faces the start). Read-only.

    python results/multigoal/diagnostics/wall_selection.py [--without-wall] RUN_DIR [RUN_DIR ...]

``--without-wall``: the same episodes on the training task itself (no wall, so no stall analysis): how much of an
agent's goal reaching each selection rule accounts for.
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np

from s2ac.algorithms.base import OffPolicyAgent
from s2ac.envs.multigoal import WALL
from s2ac.experiments.multigoal import GOAL_NAMES, WALL_ENVS, goal_statistics, rollouts
from s2ac.training.files import MODEL_FILE

EPISODES, SAMPLES = 50, 1000
S2AC_SELECTIONS = ("random", "softmax", "max_q")
_along = np.subtract(WALL[1], WALL[0]) / np.linalg.norm(np.subtract(WALL[1], WALL[0]))
WALL_NORMAL = np.array([_along[1], -_along[0]])  # the wall's normal on the start's side (origin - WALL[0])
assert WALL_NORMAL @ -np.asarray(WALL[0]) > 0


def shares(episodes: dict[str, np.ndarray], names: tuple[str, ...]) -> str:
    ends, blocked = episodes["goals"], episodes["blocked"]
    statistics = goal_statistics(ends, len(names))
    row = dict(zip(names, statistics["shares"], strict=True)) | {"none": statistics["none"],
                                                               "blocked": float(blocked.mean())}
    recovered = float(np.mean(ends[blocked] >= 0)) if blocked.any() else float("nan")
    return " ".join(f"{k}:{v:.2f}" for k, v in row.items()) + f" | blocked then a goal: {recovered:.2f}"


def last_positions(episodes: dict[str, np.ndarray]) -> np.ndarray:
    """Each episode's last position ``(E, 2)`` (its positions are NaN after its end)."""
    lengths = np.sum(~np.isnan(episodes["positions"][:, :, 0]), axis=1)
    return episodes["positions"][np.arange(len(lengths)), lengths - 1]


def main(run_dirs: list[str], wall: bool = True) -> None:
    for name in run_dirs:
        run_dir = Path(name)
        config = json.loads((run_dir / "config.json").read_text())
        env_id, seed = config["env"], config["seed"]
        agent = OffPolicyAgent.load(run_dir / MODEL_FILE)
        print(run_dir)
        selections = S2AC_SELECTIONS if agent.stochastic_mode == "softmax" else (agent.stochastic_mode,)
        task = WALL_ENVS[env_id] if wall else env_id
        by_selection = {selection: rollouts(agent, task, EPISODES, seed, mode=selection) for selection in selections}
        for selection, episodes in by_selection.items():
            print(f"  {selection:8s} {shares(episodes, GOAL_NAMES[env_id])}")
        if not wall:
            continue
        study = by_selection[agent.stochastic_mode]
        stalled = last_positions(study)[study["blocked"] & (study["goals"] < 0)]
        if len(stalled) == 0:
            print("  no stalled episode")
            continue
        where = stalled.mean(axis=0)
        actions, _ = agent.sample(where[None].astype(np.float32), SAMPLES, jax.random.PRNGKey(seed))
        away = float(np.mean(actions[0] @ WALL_NORMAL > 0))
        print(f"  {len(stalled)} stalled episodes, mean last position ({where[0]:.2f}, {where[1]:.2f}): action std "
              f"{actions[0].std(axis=0).mean():.2f}, moves away from the wall {away:.2f}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main([a for a in arguments if a != "--without-wall"], wall="--without-wall" not in arguments)
