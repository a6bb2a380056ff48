"""How far a policy's entropy estimate ``-mean log pi`` is from the entropy of its actions, on IDP (d = 1).

Temperature tuning drives ``-mean log pi`` to the target entropy. If that estimate is biased, the tuned alpha and
the policy's real spread move with the bias. For each run's last checkpoint: 256 states from its replay buffer,
2000 actions of the policy at each (S2AC: the particles of 200 independent draws, which is the policy that acts
with a random particle), and per state
- the estimate: ``-mean log pi`` over those actions (S2AC: the closed form of Thm 3.3; SAC: exact);
- the actions' entropy, by Vasicek's m-spacing estimator (m = sqrt(n)) on the squashed action in [-1, 1].
SAC's log pi is exact, so its gap is the spacing estimator's own bias (the script also prints it on a known
Gaussian). Also the critic's curvature in the action at the actions' mean, ``k = -d^2 min Q / da^2`` (central
differences, h = 0.05): a policy proportional to ``exp(Q / alpha)`` with Q quadratic has variance ``alpha / k``,
so the temperature that holds a given spread grows with k. Read-only.

    python results/idp_s2ac_vs_sac/diagnostics/entropy_bias.py RUN_DIR [RUN_DIR ...]
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from s2ac.training.loop import resume

STATES, SAMPLES = 256, 2000
H = 0.05  # the curvature's difference step, in normalised action units


def spacing_entropy(x: np.ndarray) -> np.ndarray:
    """Vasicek's m-spacing entropy estimate (nats) of 1-D samples along the last axis."""
    n = x.shape[-1]
    m = int(round(np.sqrt(n)))
    x = np.sort(x, axis=-1)
    upper = x[..., np.minimum(np.arange(n) + m, n - 1)]
    lower = x[..., np.maximum(np.arange(n) - m, 0)]
    spacing = np.maximum(upper - lower, 1e-12)
    return np.mean(np.log(n / (2 * m) * spacing), axis=-1)


def analyse(run_dir: str) -> dict[str, float]:
    agent = resume(run_dir)
    if agent.action_dim != 1:
        raise SystemExit(f"{run_dir}: the spacing estimator here is for d = 1, this task has d = {agent.action_dim}")
    batch = agent.trainer.buffer.sample(np.random.default_rng(0), STATES)
    obs = np.asarray(batch.obs[0])
    actions, log_pi = agent.sample(obs, SAMPLES, jax.random.PRNGKey(0))
    estimate = -np.mean(log_pi, axis=1)
    measured = spacing_entropy(actions[:, :, 0])
    mean = np.clip(np.mean(actions, axis=1), -1 + H, 1 - H)
    q = [np.asarray(agent.state.critic.min_q(jnp.asarray(obs), jnp.asarray(mean + shift))) for shift in (-H, 0.0, H)]
    curvature = -(q[0] + q[2] - 2 * q[1]) / H**2
    return {
        "alpha": float(agent.state.alpha),
        "-mean log pi": float(np.mean(estimate)),
        "spacing entropy": float(np.mean(measured)),
        "gap (spacing - estimate)": float(np.mean(measured - estimate)),
        "gap, 10-90% over states": f"{np.percentile(measured - estimate, 10):.2f}..{np.percentile(measured - estimate, 90):.2f}",
        "action std": float(np.mean(np.std(actions[:, :, 0], axis=1))),
        "curvature k (median)": float(np.median(curvature)),
        "sqrt(alpha / k) (median)": float(np.median(np.sqrt(float(agent.state.alpha) / np.maximum(curvature, 1e-6)))),
    }


def main() -> None:
    gaussian = np.random.default_rng(0).normal(0.0, 0.1, size=(256, SAMPLES))
    exact = 0.5 * np.log(2 * np.pi * np.e * 0.01)
    print(f"spacing estimator on N(0, 0.1^2), n = {SAMPLES}: {np.mean(spacing_entropy(gaussian)):.3f} (exact {exact:.3f})")
    for run_dir in sys.argv[1:]:
        print(run_dir)
        for name, value in analyse(run_dir).items():
            print(f"  {name:28s} {value if isinstance(value, str) else f'{value:.3f}'}")


if __name__ == "__main__":
    main()
