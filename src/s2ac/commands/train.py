"""``s2ac train``: train an agent on a Gymnasium task into a run directory, or resume one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The names of s2ac.algorithms.ALGORITHMS, spelled out so that building the parser imports no JAX.
    parser.add_argument("--algo", choices=["s2ac", "sac", "sql", "sacnf"],
                        help="algorithm (S2AC variants: --set variant=phi|phi_theta|amortized)")
    parser.add_argument("--env", help="Gymnasium environment id, e.g. Hopper-v5")
    parser.add_argument("--steps", type=int, help="total environment steps (with --resume: the new total)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, help="run directory to create")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value (JSON or a bare string), e.g. --set svgd_steps=5; repeatable")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from s2ac.algorithms import ALGORITHMS
    from s2ac.training.loop import CHECKPOINT_FILE, NonFiniteLossError, resume

    if args.resume is not None:
        if args.algo or args.env or args.out or args.overrides or args.seed is not None:
            raise ValueError("--resume continues a run as it was configured: give only --steps (optional)")
        agent = resume(args.resume)
        run_dir = args.resume
        total = args.steps if args.steps is not None else agent.trainer.total_steps
    else:
        missing = [flag for flag, value in (("--algo", args.algo), ("--env", args.env), ("--steps", args.steps),
                                            ("--out", args.out)) if value is None]
        if missing:
            raise ValueError(f"missing {', '.join(missing)} (or use --resume DIR)")
        agent_cls = ALGORITHMS[args.algo]
        config = agent_cls.config_class().with_overrides(args.overrides)
        agent = agent_cls(args.env, seed=0 if args.seed is None else args.seed, config=config)
        run_dir = args.out
        total = args.steps
    try:
        agent.learn(total, run_dir=run_dir, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted; the last checkpoint in {run_dir} is intact: continue with "
              f"`s2ac train --resume {run_dir}`", file=sys.stderr)
        return 130
    except NonFiniteLossError as err:
        print(f"s2ac train: error: {err}", file=sys.stderr)
        return 3
    last = agent.trainer.history[-1] if agent.trainer.history else None
    if last is not None:
        print(f"step {last['step']}: eval return {last['eval_return_mean']:.2f} ± {last['eval_return_std']:.2f} "
              f"({agent.config.eval_episodes} episodes); run directory {run_dir} "
              f"(metrics.csv, {CHECKPOINT_FILE}, model.npz, tensorboard/)")
    return 0
