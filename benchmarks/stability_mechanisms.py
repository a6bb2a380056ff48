"""The two measurements behind S2AC's stability defaults (README "Stability"), in one run, float64:

1. The SVGD step against the score: on ``log p(u) = -s/2 ||u - 1||^2`` (d = 3, m = 10, eps = 0.1, half-mean
   kernel variance) with scores scaled by s = 1, 1e2, 1e4, the particles' move per step in kernel widths and the
   error of the closed-form log-determinant ``eps Tr grad phi`` against the exact ``log|det(I + eps grad phi)|``,
   for ``max_move`` in {none, 2, 1, 0.5, 0.25}.
2. The width of q_0 against the box: the closed-form entropy estimate of L SVGD steps toward a flat critic
   (the target is uniform on the action box, entropy ``d log 2``) from ``N(0, sigma^2)`` truncated at 3 sigma,
   for sigma in {0.5, 0.6, 0.7, 0.8, 1.0}, with the stability defaults (max_move 0.5, kernel floor eps).

    python benchmarks/stability_mechanisms.py
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from s2ac.policies.squash import squash_log_det
from s2ac.stein import normal_sample, svgd_sample, svgd_step


def step_against_score() -> None:
    d, m = 3, 10
    x = 0.5 * jax.random.normal(jax.random.PRNGKey(0), (64, m, d))
    print("1. one SVGD step (eps 0.1) toward a target whose score is scaled by s: move and log-det error")
    print(f"   {'s':>6} {'max_move':>8} {'move (kernel widths)':>21} {'|trace - exact| median':>23} {'max':>8}")
    for scale in (1.0, 1e2, 1e4):
        def log_p(u, s=scale):
            return -0.5 * s * jnp.sum((u - 1.0) ** 2, axis=-1)

        for max_move in (None, 2.0, 1.0, 0.5, 0.25):
            trace = svgd_step(log_p, x, step_size=0.1, max_move=max_move)
            exact = svgd_step(log_p, x, step_size=0.1, max_move=max_move, log_det="exact")
            error = np.abs(np.asarray(trace.log_det - exact.log_det))
            print(f"   {scale:>6g} {str(max_move):>8} {float(jnp.mean(trace.diagnostics['move'])):>21.3g} "
                  f"{np.median(error):>23.3g} {error.max():>8.3g}")


def width_against_box() -> None:
    print("2. entropy estimate after L SVGD steps toward a flat critic, against the box's d log 2")
    print(f"   {'d':>2} {'sigma':>5} {'L':>3} {'q_0 (exact)':>11} {'after L steps':>13} {'d log 2':>8}")
    for d in (1, 3, 6):
        for std in (0.5, 0.6, 0.7, 0.8, 1.0):
            mean = jnp.zeros((2000, d))
            u0, log_q0 = normal_sample(jax.random.PRNGKey(0), mean, jnp.full_like(mean, std), 10, 3.0)
            for steps in (3, 10):
                result = svgd_sample(squash_log_det, u0, log_q0, num_steps=steps, step_size=0.1,
                                     kernel_variance="half_mean", max_move=0.5, min_kernel_variance=0.1)
                before = float(jnp.mean(squash_log_det(u0) - log_q0))
                after = float(jnp.mean(squash_log_det(result.particles) - result.log_q))
                print(f"   {d:>2} {std:>5} {steps:>3} {before:>11.3f} {after:>13.3f} {d * math.log(2):>8.3f}")


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    step_against_score()
    width_against_box()
