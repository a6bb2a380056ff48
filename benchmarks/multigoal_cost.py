"""What one agent of each part of the multigoal study (``s2ac multigoal``) costs per update, relative to the
others, for planning the study's compute.

Builds the study's agents exactly as it plans them (``s2ac.experiments.multigoal.plan``: the parts' settings,
alpha, seed 0) and times 50 updates scanned in one call (the training loop's schedule) on random batches of each
agent's own batch size, all candidates interleaved round by round (``s2ac.timing.median_ms``), so that the ratios
hold on a shared, busy machine even where the absolute times do not. Updates dominate an agent's training time,
so the ratio to an agent of known wall time estimates the others'. Trains nothing.

    python benchmarks/multigoal_cost.py [--rounds 10] [PART:ALGO ...]

Default candidates: ``maxent:s2ac_phi maxent:s2ac_phi_theta authors:s2ac_phi``.
"""

import argparse

import jax
import numpy as np
from update_speed import SCAN, random_batches  # this directory's: run as a script, it is on sys.path

from s2ac.algorithms.presets import make_agent
from s2ac.experiments.multigoal import MultigoalConfig, plan
from s2ac.timing import median_ms

DEFAULT = ("maxent:s2ac_phi", "maxent:s2ac_phi_theta", "authors:s2ac_phi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("candidates", nargs="*", default=list(DEFAULT), metavar="PART:ALGO")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    calls = {}
    for candidate in args.candidates:
        part, _, algo = candidate.partition(":")
        try:
            spec = plan(MultigoalConfig(parts=(part,), algos=(algo,), seeds=(0,)))[0]
        except ValueError as error:
            parser.error(f"candidate {candidate!r} is not PART:ALGO of the study: {error}")
        agent = make_agent(spec.algo, spec.env, seed=0, assignments=spec.settings)
        batches = random_batches(rng, SCAN, agent.config.batch_size, agent.obs_dim, agent.action_dim)
        calls[f"{candidate} ({spec.label}, batch {agent.config.batch_size})"] = (
            lambda agent=agent, batches=batches: agent.update_fn(agent.state, batches, key))
    ms = median_ms(calls, rounds=args.rounds)
    first = next(iter(ms))
    print(f"ms per {SCAN} scanned updates (median of {args.rounds} interleaved rounds), and the ratio to {first}:")
    for name, value in ms.items():
        print(f"  {name:55s} {value:9.1f} ms   x{value / ms[first]:.2f}")


if __name__ == "__main__":
    main()
