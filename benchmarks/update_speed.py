"""Update and action-selection speed of SAC and S2AC, at HalfCheetah-v5 sizes (obs 17, actions 6), batch
100, m = 10 particles, L = 3 SVGD steps, twin critics 256x256 and actors 256x256x256, all in one run.

* ms per full update (critics, actor, temperature, targets): one jitted program each; measured both as a
  single update per call and as 50 updates scanned in one call (the training loop's schedule).
* ms per action selection for one observation: SAC (sample), S2AC(phi, theta) (random particle, the
  training default, and max-Q, the evaluation default), amortized S2AC (one forward pass of f_psi).

    python benchmarks/update_speed.py [--rounds 20]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from s2ac.algorithms import S2AC, SAC
from s2ac.experiments.runtime import selection_call
from s2ac.timing import median_ms
from s2ac.training.replay import Batch

ENV = "HalfCheetah-v5"
SCAN = 50


def random_batches(rng: np.random.Generator, num: int, batch: int, obs_dim: int, action_dim: int) -> Batch:
    f32 = np.float32
    return Batch(rng.normal(size=(num, batch, obs_dim)).astype(f32),
                 rng.uniform(-1, 1, size=(num, batch, action_dim)).astype(f32),
                 rng.normal(size=(num, batch)).astype(f32), rng.normal(size=(num, batch, obs_dim)).astype(f32),
                 (rng.uniform(size=(num, batch)) < 0.01).astype(f32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    sac = SAC(ENV, seed=0)
    s2ac = S2AC(ENV, seed=0, variant="phi_theta")
    amortized = S2AC(ENV, seed=0, variant="amortized")
    rng = np.random.default_rng(0)
    one = random_batches(rng, 1, 100, sac.obs_dim, sac.action_dim)
    many = random_batches(rng, SCAN, 100, sac.obs_dim, sac.action_dim)
    obs = one.obs[0, :1]
    key = jax.random.PRNGKey(0)

    update_ms = median_ms({
        "SAC update": lambda: sac.update_fn(sac.state, one, key),
        "S2AC(phi,theta) update": lambda: s2ac.update_fn(s2ac.state, one, key),
        f"SAC {SCAN} updates": lambda: sac.update_fn(sac.state, many, key),
        f"S2AC(phi,theta) {SCAN} updates": lambda: s2ac.update_fn(s2ac.state, many, key),
    }, rounds=max(3, args.rounds // 4))
    # The same call as the runtime table's (s2ac runtime): the observation sent to the device, then act_fn.
    act_ms = median_ms({
        "SAC": selection_call(sac, obs, "train", key=key),
        "S2AC(phi,theta) random particle": selection_call(s2ac, obs, "random", key=key),
        "S2AC(phi,theta) max-Q": selection_call(s2ac, obs, "max_q", key=key),
        "amortized S2AC": selection_call(amortized, obs, "amortized", key=key),
    }, rounds=args.rounds * 10)

    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; {ENV} sizes, batch 100, m=10, L=3")
    print("update (ms):")
    for name, value in update_ms.items():
        per = value / SCAN if str(SCAN) in name else value
        print(f"  {name:<34} {value:9.2f} per call  {per:8.2f} per update")
    single = update_ms["S2AC(phi,theta) update"] / update_ms["SAC update"]
    scanned = update_ms[f"S2AC(phi,theta) {SCAN} updates"] / update_ms[f"SAC {SCAN} updates"]
    print(f"  S2AC(phi,theta) / SAC update: {single:.1f}x single, {scanned:.1f}x scanned   (target: within 6x)")
    print("action selection, one observation (ms):")
    for name, value in act_ms.items():
        print(f"  {name:<34} {value:9.3f}")
    print(f"  S2AC(phi,theta) max-Q: {act_ms['S2AC(phi,theta) max-Q']:.3f} ms   (target: under 1 ms on CPU)")
    print(f"  amortized / SAC: {act_ms['amortized S2AC'] / act_ms['SAC']:.2f}x   (target: within 1.5x)")


if __name__ == "__main__":
    main()
