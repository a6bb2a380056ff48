"""Speed of the Stein core as S2AC uses it: L = 3 SVGD steps with the closed-form log-density for
100 states x 10 particles x d = 6 against a twin-Q MLP (256 x 256, ELU), jitted; alone, and inside the
gradient of a loss on the result (second order through grad_a Q). Also float32 against bfloat16 matrix
products, with the bf16 path's error.

    python benchmarks/stein_speed.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import platform

import jax
import jax.numpy as jnp

from s2ac.networks import TwinCritic
from s2ac.stein import normal_sample, svgd_sample
from s2ac.timing import median_ms

BATCH, PARTICLES, ACTION_DIM, OBS_DIM, STEPS, ALPHA = 100, 10, 6, 17, 3, 0.2


def make_functions(critic: TwinCritic):
    def sample(mean, log_std, obs, key):
        u0, log_q0 = normal_sample(key, mean, jnp.exp(log_std), PARTICLES, truncation=3.0)
        target = lambda u: critic.min_q(obs[:, None, :], jnp.tanh(u)) / ALPHA  # noqa: E731
        return svgd_sample(target, u0, log_q0, num_steps=STEPS, step_size=0.1, kernel_variance="half_mean")

    def loss(mean, log_std, obs, key):
        result = sample(mean, log_std, obs, key)
        return jnp.mean(ALPHA * result.log_q - critic.min_q(obs[:, None, :], jnp.tanh(result.particles)))

    forward = jax.jit(lambda *a: sample(*a)[:2])
    gradient = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return forward, gradient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    key = jax.random.PRNGKey(0)
    k_critic, k_obs, k_mean, k_sample = jax.random.split(key, 4)
    critic32 = TwinCritic(OBS_DIM, ACTION_DIM, (256, 256), key=k_critic, activation="elu")
    # Same key, same weights: only the precision of the matrix products differs.
    critic16 = TwinCritic(OBS_DIM, ACTION_DIM, (256, 256), key=k_critic, activation="elu",
                          compute_dtype=jnp.bfloat16)
    obs = jax.random.normal(k_obs, (BATCH, OBS_DIM))
    mean = 0.3 * jax.random.normal(k_mean, (BATCH, ACTION_DIM))
    log_std = jnp.full((BATCH, ACTION_DIM), -0.5)
    inputs = (mean, log_std, obs, k_sample)

    fwd32, grad32 = make_functions(critic32)
    fwd16, grad16 = make_functions(critic16)
    ms = median_ms({
        "forward f32": lambda: fwd32(*inputs),
        "gradient f32": lambda: grad32(*inputs),
        "forward bf16": lambda: fwd16(*inputs),
        "gradient bf16": lambda: grad16(*inputs),
    }, rounds=args.rounds)

    (p32, lq32), (p16, lq16) = fwd32(*inputs), fwd16(*inputs)
    (_, g32), (_, g16) = grad32(*inputs), grad16(*inputs)
    rel = lambda a, b: float(jnp.linalg.norm(a - b) / jnp.linalg.norm(a))  # noqa: E731

    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({platform.processor() or platform.machine()}); "
          f"{BATCH} states x {PARTICLES} particles x d={ACTION_DIM}, L={STEPS}, twin Q 256x256 ELU")
    for name, value in ms.items():
        print(f"  {name:<14} {value:8.3f} ms per call")
    print(f"gradient / forward (f32):  {ms['gradient f32'] / ms['forward f32']:.2f}x")
    print(f"bf16 / f32 forward:        {ms['forward bf16'] / ms['forward f32']:.2f}x")
    print(f"bf16 / f32 gradient:       {ms['gradient bf16'] / ms['gradient f32']:.2f}x")
    print(f"bf16 relative error: particles {rel(p32, p16):.1e}, log q {rel(lq32, lq16):.1e}, "
          f"grad mean {rel(g32[0], g16[0]):.1e}, grad log_std {rel(g32[1], g16[1]):.1e}")


if __name__ == "__main__":
    main()
