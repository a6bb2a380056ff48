"""``s2ac train``: train an agent on a Gymnasium task into a run directory, or resume one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2ac.algorithms.presets import TRAINABLE_NAMES, make_agent
from s2ac.training.files import CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE, TENSORBOARD_DIR
from s2ac.training.health import TrainingStopped


def positive_int(text: str) -> int:
    """argparse type of a step budget: ``--steps 0`` or ``-5`` is a usage error, not an empty run."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The names of s2ac.algorithms.presets (which imports no JAX): the same as `s2ac sweep --algos` takes, less
    # the reference baselines, which only the sweep trains.
    parser.add_argument("--algo", choices=TRAINABLE_NAMES, metavar="ALGO",
                        help=f"algorithm: {' '.join(TRAINABLE_NAMES)}; s2ac = s2ac_phi_theta, and e.g. "
                             "--algo s2ac_phi = --algo s2ac --set variant=phi")
    parser.add_argument("--env", help="Gymnasium environment id, e.g. Hopper-v5")
    parser.add_argument("--steps", type=positive_int,
                        help="total environment steps (with --resume: the new total)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, help="run directory to create (the same command starts again a run "
                                                 "stopped before its first checkpoint)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value (JSON or a bare string), e.g. --set svgd_steps=5; repeatable")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def say(message: str) -> None:
    """What the command is doing, on stderr (stdout keeps only the result)."""
    print(f"s2ac train: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from s2ac.training.loop import resume  # imports JAX: not at command-line start-up

    if args.resume is not None:
        if args.algo or args.env or args.out or args.overrides or args.seed is not None:
            raise ValueError("--resume continues a run as it was configured: give only --steps (optional)")
        run_dir = args.resume
        agent = resume(run_dir)
        trainer = agent.trainer
        total = args.steps if args.steps is not None else trainer.total_steps
        if total is None:
            raise ValueError(f"{run_dir} does not record its step budget: give --steps N")
        if trainer.restarting:
            say(f"{run_dir} stopped before its first checkpoint, so there is nothing to resume: starting it again "
                f"from step 0 to step {total}")
        elif total < trainer.step:
            raise ValueError(f"{run_dir} is already at step {trainer.step}; --steps {total} would go back: give "
                             f"--steps above {trainer.step} to train further")
        elif total == trainer.step:
            agent.learn(total, run_dir=run_dir, progress=False)  # only rewrites model.npz if a crash lost it
            print(f"{run_dir} is already at step {total}, its budget: nothing to train ({MODEL_FILE} is up to "
                  f"date); continue with `s2ac train --resume {run_dir} --steps N` for N > {total}")
            return 0
        else:
            say(f"resuming {run_dir} from its checkpoint at step {trainer.step}, to step {total}")
    else:
        missing = [flag for flag, value in (("--algo", args.algo), ("--env", args.env), ("--steps", args.steps),
                                            ("--out", args.out)) if value is None]
        if missing:
            raise ValueError(f"missing {', '.join(missing)} (or use --resume DIR)")
        agent = make_agent(args.algo, args.env, seed=0 if args.seed is None else args.seed,
                           assignments=args.overrides)
        run_dir = args.out
        total = args.steps
    try:
        agent.learn(total, run_dir=run_dir, progress=not args.no_progress)
    except KeyboardInterrupt:
        if (run_dir / CHECKPOINT_FILE).is_file():
            where = f"the last checkpoint in {run_dir} is intact: continue with `s2ac train --resume {run_dir}`"
        else:
            where = "no checkpoint was written yet: the same command starts the run again"
        print(f"\ninterrupted; {where}", file=sys.stderr)
        return 130
    except TrainingStopped as err:
        print(f"s2ac train: error: {err}", file=sys.stderr)
        return 3
    last = agent.trainer.history[-1] if agent.trainer.history else None
    if last is not None:
        print(f"step {last['step']}: eval return {last['eval_return_mean']:.2f} ± {last['eval_return_std']:.2f} "
              f"({agent.config.eval_episodes} episodes); run directory {run_dir} "
              f"({METRICS_FILE}, {CHECKPOINT_FILE}, {MODEL_FILE}, {TENSORBOARD_DIR}/)")
    return 0
