"""``s2ac evaluate``: evaluate the trained agent of a run directory (or a saved model file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2ac.envs import make_env, separate_instance
from s2ac.training.files import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a run directory (uses its model.npz, else its checkpoint) or a "
                                                ".npz model file")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--selection", default="eval",
                        help="action selection: eval (default), train, or for S2AC random | max_q | softmax | "
                             "amortized")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from s2ac.training.evaluation import evaluate  # imports JAX: not at command-line start-up

    path = args.path
    if path.is_dir():
        description = json.loads((path / CONFIG_FILE).read_text()) if (path / CONFIG_FILE).is_file() else {}
        path = path / MODEL_FILE if (path / MODEL_FILE).is_file() else path / CHECKPOINT_FILE
    else:
        description = {}
    if description.get("reference"):
        # A DDPG/PPO run of the sweep (the 'baselines' extra): the library's deterministic policy. Imported here:
        # it imports JAX (and, when it loads, the optional extra).
        from s2ac.training.reference import ReferencePolicy, load_reference

        if args.selection != "eval":
            raise ValueError(f"{description['algo']} runs act deterministically: only --selection eval applies")
        name, env_id = description["algo"], description["env"]
        agent, env = ReferencePolicy(load_reference(path)), make_env(env_id)
    else:
        from s2ac.algorithms.base import OffPolicyAgent  # imports JAX: not at command-line start-up

        agent = OffPolicyAgent.load(path)
        name, env_id, env = agent.name, agent.env_id, separate_instance(agent.env)
    result = evaluate(agent, env, args.episodes, args.seed, mode=args.selection)
    summary = {"model": str(path), "algo": name, "env": env_id, "selection": args.selection,
               "episodes": args.episodes, "return_mean": result.mean, "return_std": result.std,
               "returns": result.returns.tolist(), "lengths": result.lengths.tolist()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{name} on {env_id}, selection {args.selection}: return {result.mean:.2f} ± "
              f"{result.std:.2f} over {args.episodes} episodes (min {result.returns.min():.2f}, "
              f"max {result.returns.max():.2f}, mean length {result.lengths.mean():.0f})")
    return 0
