"""Where S2AC's critic loss comes from, against SAC's, on the runs' own replay data (read-only).

For each run's last checkpoint: one fixed set of replay transitions, the soft TD target
y = r + gamma (1 - done) (mean_i min Q'(s', a'_i) - alpha mean_i log pi(a'_i|s')) drawn with R policy keys.
The critic's squared error (Q - y)^2 (averaged over both critics, per transition) splits exactly into
  (Q - E[y])^2      the critic's distance from the expected target, and
  Var[y]            the noise the policy's sampling puts in the target,
and Var[y] into the parts from the sampled Q values and from the sampled log pi (plus their covariance).

    python results/idp_s2ac_vs_sac/diagnostics/critic_loss.py RUN_DIR [RUN_DIR ...]
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from s2ac.training.loop import resume

TRANSITIONS, REPEATS = 2048, 16


def analyse(run_dir: str) -> dict[str, float]:
    agent = resume(run_dir)
    state, buffer = agent.state, agent.trainer.buffer
    batch = buffer.sample(np.random.default_rng(0), TRANSITIONS)
    batch = jax.tree.map(lambda x: jnp.asarray(x[0]), batch)  # the one batch of (1, N, ...)
    gamma, alpha = agent.config.gamma, state.alpha

    @jax.jit
    def parts(key):
        sample = agent.policy(state.actor, state.critic, batch.next_obs, key, alpha)
        next_q = jnp.mean(state.target_critic.min_q(batch.next_obs[:, None, :], sample.actions), axis=-1)
        next_entropy_term = -alpha * jnp.mean(sample.log_pi, axis=-1)
        scale = gamma * (1.0 - batch.terminated)
        return scale * next_q, scale * next_entropy_term, sample.actions

    q_part, h_part, actions = jax.vmap(parts)(jax.random.split(jax.random.PRNGKey(1), REPEATS))
    targets = batch.rewards + q_part + h_part  # (R, N)
    q = state.critic(batch.obs, batch.actions)  # (critics, N)
    mean_target = jnp.mean(targets, axis=0)
    distance = jnp.mean((q - mean_target) ** 2)
    noise = jnp.mean(jnp.var(targets, axis=0))
    actions = np.asarray(actions)
    return {
        "alpha": float(alpha),
        "Q(s,a)": float(jnp.mean(q)),
        "loss (2 critics)": float(2 * (distance + noise)),
        "(Q - E y)^2": float(distance),
        "mean(Q - E y)": float(jnp.mean(q - mean_target)),
        "(Q - E y)^2 at terminal": float(jnp.mean(((q - mean_target) ** 2)[:, batch.terminated > 0])),
        "terminal share": float(jnp.mean(batch.terminated)),
        "Var y": float(noise),
        "Var of Q part": float(jnp.mean(jnp.var(q_part, axis=0))),
        "Var of entropy part": float(jnp.mean(jnp.var(h_part, axis=0))),
        "E entropy part": float(jnp.mean(h_part)),
        "|a'| > 0.99 share": float(np.mean(np.abs(actions) > 0.99)),
    }


if __name__ == "__main__":
    rows = {d: analyse(d) for d in sys.argv[1:]}
    names = list(next(iter(rows.values())))
    print("| run | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for d, row in rows.items():
        print(f"| {d} | " + " | ".join(f"{v:.4g}" for v in row.values()) + " |")
